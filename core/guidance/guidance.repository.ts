import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries for guidance and the direction lock: `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

/** The stream's newest guidance row (cleared or not) with its setter's email. */
export function latestGuidance(db: Db, streamId: string) {
  return db
    .selectFrom("guidance")
    .leftJoin("users", "users.id", "guidance.set_by")
    .selectAll("guidance")
    .select("users.email")
    .where("stream_id", "=", streamId)
    .orderBy("guidance.id", "desc")
    .limit(1)
    .executeTakeFirst();
}

export function insertGuidance(
  db: Db,
  g: { stream_id: string; set_by: string; lat: number | null; lng: number | null; heading: number | null; message: string },
) {
  return db.insertInto("guidance").values(g).returningAll().executeTakeFirstOrThrow();
}

/** Clears the stream's open guidance; the number of rows cleared. */
export async function clearOpenGuidance(db: Db, streamId: string): Promise<number> {
  const done = await db
    .updateTable("guidance")
    .set({ cleared_at: new Date() })
    .where("stream_id", "=", streamId)
    .where("cleared_at", "is", null)
    .returning("id")
    .execute();
  return done.length;
}

/** The stream's lock row with its holder, locked for update when asked. */
export function findLock(db: Db, streamId: string, forUpdate: boolean) {
  let q = db
    .selectFrom("guidance_locks")
    .innerJoin("users", "users.id", "guidance_locks.holder_id")
    .select(["guidance_locks.stream_id", "guidance_locks.holder_id", "guidance_locks.taken_at", "users.email", "users.disabled_at"])
    .where("guidance_locks.stream_id", "=", streamId);
  if (forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

/** The user holds the stream's lock from now on; when they took it. */
export async function setLockHolder(db: Db, streamId: string, holderId: string): Promise<Date> {
  const r = await db
    .insertInto("guidance_locks")
    .values({ stream_id: streamId, holder_id: holderId, taken_at: sql<Date>`now()` })
    .onConflict((oc) => oc.column("stream_id").doUpdateSet({ holder_id: holderId, taken_at: sql<Date>`now()` }))
    .returning(["taken_at"])
    .executeTakeFirstOrThrow();
  return r.taken_at;
}

/** Removes the lock only when this user holds it; true when it was removed. */
export async function deleteLockHeldBy(db: Db, streamId: string, holderId: string): Promise<boolean> {
  const gone = await db.deleteFrom("guidance_locks").where("stream_id", "=", streamId).where("holder_id", "=", holderId).returning("stream_id").execute();
  return gone.length > 0;
}
