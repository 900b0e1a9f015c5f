import { AppError } from "../../core/errors.ts";
import { syncObjectHold } from "../../core/retention/object-hold.service.ts";
import type { RetentionDeps } from "../../core/retention/retention.service.ts";

/**
 * Task id: object_hold (batch). Payload `{ stream_id }` or `{ item_id }`: sets the S3 legal hold
 * of the stream's or item's objects to match its legal hold in Postgres (on while held, off once
 * released). Queued with every hold change and after a held stream's recording is made; a no-op
 * when the bucket has no object lock.
 */
export async function run(deps: RetentionDeps, payload: unknown): Promise<void> {
  const p = (payload ?? {}) as { stream_id?: unknown; item_id?: unknown };
  const target = typeof p.stream_id === "string" ? { stream_id: p.stream_id } : typeof p.item_id === "string" ? { item_id: p.item_id } : null;
  if (!target) throw new AppError("bad_request", "object_hold payload needs stream_id or item_id");
  const r = await syncObjectHold(deps, target);
  if (r.objectLock) deps.log.info("object legal hold synced", { ...target, held: r.held, objects: r.objects });
}
