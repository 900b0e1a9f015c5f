import { t } from "elysia";
import { TagName } from "../items/items.model.ts";

/** The most streams and items one package may hold (a larger case is several packages). */
export const MAX_EXPORT_STREAMS = 100;
export const MAX_EXPORT_ITEMS = 5000;

const Uuid = t.String({ format: "uuid" });

export const CreateExportBody = t.Object(
  {
    streams: t.Optional(t.Array(Uuid, { maxItems: MAX_EXPORT_STREAMS })),
    items: t.Optional(t.Array(Uuid, { maxItems: 1000 })),
    tag: t.Optional(TagName),
    from: t.Optional(t.String({ format: "date-time" })),
    to: t.Optional(t.String({ format: "date-time" })),
  },
  { additionalProperties: false },
);

export const ExportParams = t.Object({ id: t.String({ format: "uuid" }) });

export const ExportView = t.Object({
  id: t.String(),
  state: t.Union([t.Literal("queued"), t.Literal("building"), t.Literal("ready"), t.Literal("failed")]),
  progress: t.Number({ description: "0 to 1" }),
  streams: t.Number(),
  items: t.Number(),
  files: t.Union([t.Number(), t.Null()]),
  size: t.Union([t.Number(), t.Null()]),
  sha256: t.Union([t.String(), t.Null()], { description: "SHA-256 of the whole tar" }),
  manifest_sha256: t.Union([t.String(), t.Null()]),
  audit_head_seq: t.Union([t.String(), t.Null()]),
  error: t.Union([t.String(), t.Null()]),
  requested_by: t.Union([t.String(), t.Null()]),
  created_at: t.String(),
  finished_at: t.Union([t.String(), t.Null()]),
  download_url: t.Union([t.String(), t.Null()]),
});

export const SigningKeyView = t.Object({
  algorithm: t.Literal("ed25519"),
  fingerprint: t.String({ description: "SHA256:<base64> of the SubjectPublicKeyInfo DER" }),
  public_key_pem: t.String(),
  created_at: t.String(),
});
