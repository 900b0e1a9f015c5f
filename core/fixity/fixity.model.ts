import { t } from "elysia";
import { BodyInt } from "../http/schema.ts";
import { RowId } from "../queue/jobs.model.ts";
import { MAX_BATCH } from "./fixity.service.ts";

export const FixityRequestBody = t.Optional(
  t.Object(
    {
      /** Objects per batch job. */
      limit: t.Optional(BodyInt({ minimum: 1, maximum: MAX_BATCH })),
      /** Start after this object key (resume a partial check). */
      after: t.Optional(t.String({ minLength: 1, maxLength: 1024 })),
    },
    { additionalProperties: false },
  ),
);

export const FixityAccepted = t.Object({ job_id: t.String() });

export const FixityFailuresQuery = t.Object(
  {
    state: t.Optional(t.Union([t.Literal("open"), t.Literal("all")], { default: "open" })),
    limit: t.Optional(t.Integer({ minimum: 1, maximum: 200, default: 50 })),
    before: t.Optional(RowId),
  },
  { additionalProperties: false },
);

export const FixityFailure = t.Object({
  id: t.String(),
  object_key: t.String(),
  source: t.Union([t.Literal("chunk"), t.Literal("segment"), t.Literal("recording"), t.Literal("init"), t.Null()]),
  stream_id: t.Union([t.String(), t.Null()]),
  reason: t.Union([t.Literal("mismatch"), t.Literal("missing")]),
  expected_sha256: t.String(),
  actual_sha256: t.Union([t.String(), t.Null()]),
  detected_at: t.String(),
  last_detected_at: t.String(),
  detections: t.Integer(),
  resolved_at: t.Union([t.String(), t.Null()]),
  run_id: t.Union([t.String(), t.Null()]),
});

export const FixityFailuresPage = t.Object({ failures: t.Array(FixityFailure), next_before: t.Union([t.String(), t.Null()]) });
