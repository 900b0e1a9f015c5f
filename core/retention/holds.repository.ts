import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries for legal holds: `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;
type HoldColumn = "stream_id" | "item_id";

/** The hold in force on this stream or item, if any. */
export function findActiveHold(db: Db, column: HoldColumn, id: string) {
  return db.selectFrom("legal_holds").selectAll().where("released_at", "is", null).where(column, "=", id).executeTakeFirst();
}

/** The item's id and its stream's (null for a report, photo or link). */
export function findItemStream(db: Db, itemId: string) {
  return db.selectFrom("items").select(["id", "stream_id"]).where("id", "=", itemId).executeTakeFirst();
}

/** Locks the held stream's or item's row: orders a hold against a delete running right now. */
export function lockHoldTarget(trx: Transaction<DB>, table: "streams" | "items", id: string) {
  return trx.selectFrom(table).select("id").where("id", "=", id).forUpdate().executeTakeFirst();
}

export function insertHold(db: Db, h: { stream_id?: string; item_id?: string; reason: string; placed_by: string }) {
  return db.insertInto("legal_holds").values(h).returningAll().executeTakeFirstOrThrow();
}

/** Releases the hold in force on this stream or item; undefined when there is none. */
export function releaseActiveHold(db: Db, column: HoldColumn, id: string, by: string, reason: string | null) {
  return db
    .updateTable("legal_holds")
    .set({ released_at: sql`now()`, released_by: by, release_reason: reason })
    .where("released_at", "is", null)
    .where(column, "=", id)
    .returningAll()
    .executeTakeFirst();
}

/** Newest first, at most 1000; released ones only when asked. */
export function listHolds(db: Db, includeReleased: boolean) {
  let q = db.selectFrom("legal_holds").selectAll();
  if (!includeReleased) q = q.where("released_at", "is", null);
  return q.orderBy("placed_at", "desc").limit(1000).execute();
}

/** The database's own answer (the function its delete triggers use): is this stream or item held? */
export async function isHoldActive(db: Db, streamId: string | null, itemId: string | null): Promise<boolean> {
  const { rows } = await sql<{ held: boolean }>`select rter_hold_active(${streamId}::uuid, ${itemId}::uuid) as held`.execute(db);
  return rows[0]!.held;
}

export async function itemPhotoKey(db: Db, itemId: string): Promise<string | null> {
  const item = await db.selectFrom("items").select("photo_key").where("id", "=", itemId).executeTakeFirst();
  return item?.photo_key ?? null;
}
