import { t } from "elysia";

/**
 * A bigint row id as it appears in a URL or cursor: digits only, no sign, exponent or leading zero
 * (so "-1", "1e12" and "0x10" are refused by the schema, 400); the int8 range is checked again in
 * the service.
 */
export const RowId = t.String({ pattern: "^[1-9][0-9]{0,18}$", description: "positive integer id" });

export const JobIdParams = t.Object({ id: RowId });

export const FailedJobsQuery = t.Object(
  {
    limit: t.Optional(t.Integer({ minimum: 1, maximum: 200, default: 50 })),
    before: t.Optional(RowId),
  },
  { additionalProperties: false },
);

export const NoBody = t.Optional(t.Object({}, { additionalProperties: false }));

export const JobView = t.Object({
  id: t.String(),
  task: t.String(),
  queue_name: t.Union([t.String(), t.Null()]),
  priority: t.Integer(),
  /** The payload as JSON text, cut at 200 characters. */
  payload: t.String(),
  attempts: t.Integer(),
  max_attempts: t.Integer(),
  last_error: t.Union([t.String(), t.Null()]),
  run_at: t.String(),
  created_at: t.String(),
  updated_at: t.String(),
});

export const FailedJobsPage = t.Object({
  jobs: t.Array(JobView),
  /** Pass as `before` for the next (older) page; null on the last page. */
  next_before: t.Union([t.String(), t.Null()]),
});

export const RetryAllResult = t.Object({ retried: t.Integer() });
