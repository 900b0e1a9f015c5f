import { AppError } from "../../core/errors.ts";
import { purgeObjects, type RetentionDeps } from "../../core/retention/retention.service.ts";

/**
 * Task id: purge_objects (batch). Payload `{ prefix: "streams/<id>/" }` or `{ prefix:
 * "items/photos/<uuid>.<ext>" }`: deletes the objects of a stream or the photo of an item whose
 * rows were deleted (queued in the same transaction as the delete). Refuses any other prefix, and
 * anything whose row still exists. Idempotent: a second run finds nothing to delete.
 */
export async function run(deps: RetentionDeps, payload: unknown): Promise<void> {
  const prefix = (payload as { prefix?: unknown } | null)?.prefix;
  if (typeof prefix !== "string") throw new AppError("bad_request", "purge_objects payload needs a prefix");
  const n = await purgeObjects(deps.store, prefix, deps.db);
  if (n) deps.log.info("purged objects", { prefix, objects: n });
}
