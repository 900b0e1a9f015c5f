import { AppError } from "../errors.ts";
import type { RetentionDeps } from "./retention.service.ts";
import { isUuid } from "../ids.ts";
import type { HoldTarget } from "./holds.service.ts";
import { isHoldActive, itemPhotoKey } from "./holds.repository.ts";

export interface ObjectHoldResult {
  /** false: the bucket has no object lock, nothing was done (Postgres alone guards the hold). */
  objectLock: boolean;
  held: boolean;
  objects: number;
}

/**
 * Makes the S3 legal hold of a stream's or item's objects match its hold in Postgres: ON while a
 * hold is in force, OFF after release. Reads the state when it runs, so a late or repeated run
 * converges instead of undoing a newer change. Objects written after the hold (a live stream's
 * later segments, its recording) are covered by running it again when the recording is made.
 */
export async function syncObjectHold(deps: RetentionDeps, t: HoldTarget): Promise<ObjectHoldResult> {
  const streamId = "stream_id" in t ? t.stream_id : null;
  const itemId = "item_id" in t ? t.item_id : null;
  if (!isUuid(streamId ?? itemId ?? "")) throw new AppError("bad_request", "object_hold needs a stream_id or item_id (uuid)");
  if (!deps.store.objectLock()) return { objectLock: false, held: false, objects: 0 };
  const held = await isHoldActive(deps.db, streamId, itemId);
  const keys: string[] = [];
  if (streamId) {
    for await (const o of deps.store.list(`streams/${streamId.toLowerCase()}/`)) keys.push(o.key);
  } else {
    const photo = await itemPhotoKey(deps.db, itemId!);
    if (photo) keys.push(photo);
  }
  for (const key of keys) {
    try {
      await deps.store.setLegalHold(key, held);
    } catch (e) {
      // Deleted between the listing and now (an overwritten poster, a released stream's purge).
      if (!(e instanceof AppError && e.code === "not_found")) throw e;
    }
  }
  return { objectLock: true, held, objects: keys.length };
}
