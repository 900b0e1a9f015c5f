import { Elysia, t } from "elysia";
import { requireUser } from "../auth/auth.http.ts";
import { checkIdempotencyKey, withIdempotency } from "../idempotency/idempotency.service.ts";
import type { ApiContext } from "../runtime.ts";
import { CreateExportBody, ExportParams, ExportView, SigningKeyView } from "./exports.model.ts";
import { downloadExport, exportView, getExport, listExports, requestExport, signingKeyView } from "./exports.service.ts";

const tags = ["evidence"];

/** Evidence packages: ask for one (a batch job builds it), watch it, download it; the key that signs them. */
export function exportRoutes(rt: ApiContext) {
  const db = () => rt.database.db;
  return new Elysia({ name: "exports" })
    .use(requireUser(rt))
    .post(
      "/api/v1/exports",
      async ({ user, body, request, set }) => {
        // A retried request (same Idempotency-Key) gets the same export, not a second package.
        const key = checkIdempotencyKey(request.headers.get("idempotency-key"));
        const out = await withIdempotency(db(), { userId: user.id, scope: "create_export", key, body }, async () => ({
          status: 202,
          body: await requestExport(db(), user, body),
        }));
        set.status = out.status;
        if (out.replayed) set.headers["idempotent-replayed"] = "true";
        return out.body as typeof ExportView.static;
      },
      {
        body: CreateExportBody,
        response: { 202: ExportView },
        detail: {
          tags,
          summary:
            "Ask for an evidence package of streams, items, a tag's workspace and/or a time window; a batch job builds it (progress: GET …/{id} and export.progress events). Idempotency-Key supported",
        },
      },
    )
    .get("/api/v1/exports", ({ user, query }) => listExports(db(), user, query.limit ?? 50), {
      query: t.Object({ limit: t.Optional(t.Integer({ minimum: 1, maximum: 200 })) }),
      response: { 200: t.Array(ExportView) },
      detail: { tags, summary: "Evidence packages, newest first" },
    })
    .get("/api/v1/exports/:id", async ({ user, params }) => exportView(await getExport(db(), user, params.id)), {
      params: ExportParams,
      response: { 200: ExportView },
      detail: { tags, summary: "One evidence package: state, progress, and download_url once ready" },
    })
    .get("/api/v1/exports/:id/download", ({ user, params, request }) => downloadExport(db(), rt.store, user, params.id, request.headers.get("range")), {
      params: ExportParams,
      detail: {
        tags,
        summary: "The package (a tar; X-Content-SHA256); audited as export.downloaded. Check it with `rter evidence verify FILE` or docs/evidence.md",
      },
    })
    .get("/api/v1/admin/signing-key", ({ user }) => signingKeyView(db(), user), {
      response: { 200: SigningKeyView },
      detail: { tags, summary: "The appliance's Ed25519 public key that signs every package manifest, with its fingerprint" },
    });
}
