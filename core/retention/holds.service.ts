import type { Kysely, Transaction } from "kysely";
import { audit } from "../audit/audit.service.ts";
import type { AuthUser } from "../auth/auth.service.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { isUuid } from "../ids.ts";
import { enqueue } from "../queue/enqueue.ts";
import * as repo from "./holds.repository.ts";

/**
 * Legal holds on streams and on other items (text reports, photos, links). A stream's item is
 * held through its stream, so one hold covers its rows and objects. Database triggers refuse the
 * delete of anything held (migrations 0006 and 0008); this module places and releases holds with
 * their audit records, and queues `object_hold` so that, when the bucket has S3 object lock, the
 * objects themselves become write-once as well.
 */
export type HoldTarget = { stream_id: string } | { item_id: string };

/** What a hold is on: its kind, id, and the legal_holds column that names it. */
function describeTarget(t: HoldTarget): { type: "stream" | "item"; id: string; column: "stream_id" | "item_id" } {
  return "stream_id" in t ? { type: "stream", id: t.stream_id, column: "stream_id" } : { type: "item", id: t.item_id, column: "item_id" };
}

export function activeHold(db: Kysely<DB> | Transaction<DB>, t: HoldTarget) {
  const { column, id } = describeTarget(t);
  return repo.findActiveHold(db, column, id);
}

/** Streams are held as streams; any other item by its own id. Unknown or hidden ids: 404. */
export async function holdTargetOfItem(db: Kysely<DB> | Transaction<DB>, itemId: string): Promise<HoldTarget> {
  const item = isUuid(itemId) ? await repo.findItemStream(db, itemId) : undefined;
  if (!item) throw new AppError("not_found", "no such item");
  return item.stream_id ? { stream_id: item.stream_id } : { item_id: item.id };
}

/** Queued with the hold's change: the job reads the hold state when it runs, so it converges. */
export async function queueObjectHoldSync(trx: Kysely<DB> | Transaction<DB>, t: HoldTarget): Promise<void> {
  const { type, id } = describeTarget(t);
  await enqueue(trx, "object_hold", t, { jobKey: `object_hold:${type}:${id}` });
}

export async function placeHold(db: Kysely<DB>, user: AuthUser, t: HoldTarget, reason: string) {
  const { type, id } = describeTarget(t);
  return db.transaction().execute(async (trx) => {
    // The row lock orders us against a delete of the same stream or item running right now.
    const table = type === "stream" ? "streams" : "items";
    const row = isUuid(id) ? await repo.lockHoldTarget(trx, table, id) : undefined;
    if (!row) throw new AppError("not_found", `no such ${type}`);
    const existing = await activeHold(trx, t);
    if (existing) throw new AppError("conflict", `the ${type} is already under legal hold`, { detail: { hold_id: existing.id } });
    const hold = await repo.insertHold(trx, { ...t, reason, placed_by: user.id });
    await audit(trx, { action: "hold.placed", targetType: type, targetId: id, detail: { hold_id: hold.id, reason } });
    await queueObjectHoldSync(trx, t);
    return holdView(hold);
  });
}

export async function releaseHold(db: Kysely<DB>, user: AuthUser, t: HoldTarget, reason: string | null) {
  const { type, id, column } = describeTarget(t);
  return db.transaction().execute(async (trx) => {
    const hold = await repo.releaseActiveHold(trx, column, id, user.id, reason);
    if (!hold) throw new AppError("not_found", `the ${type} has no active legal hold`);
    await audit(trx, { action: "hold.released", targetType: type, targetId: id, detail: { hold_id: hold.id, reason } });
    await queueObjectHoldSync(trx, t);
    return holdView(hold);
  });
}

type HoldRow = {
  id: string;
  stream_id: string | null;
  item_id: string | null;
  reason: string;
  placed_by: string | null;
  placed_at: Date | string;
  released_by: string | null;
  released_at: Date | string | null;
  release_reason: string | null;
};

export function holdView(h: HoldRow) {
  return {
    id: h.id,
    stream_id: h.stream_id,
    item_id: h.item_id,
    reason: h.reason,
    placed_by: h.placed_by,
    placed_at: new Date(h.placed_at).toISOString(),
    released_by: h.released_by,
    released_at: h.released_at ? new Date(h.released_at).toISOString() : null,
    release_reason: h.release_reason,
  };
}

export async function listHolds(db: Kysely<DB>, includeReleased: boolean) {
  return (await repo.listHolds(db, includeReleased)).map(holdView);
}
