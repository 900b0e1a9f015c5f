import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries for the event log: `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

export async function insertEvent(db: Db, e: { type: string; stream_id: string | null; owner_id: string | null; data: string }): Promise<void> {
  await db.insertInto("events").values(e).execute();
}

/** NOTIFY without a payload: Postgres folds identical ones of one transaction into one. */
export async function notify(db: Db, channel: string): Promise<void> {
  await sql`select pg_notify(${channel}, '')`.execute(db);
}

/** Up to `limit` events after `afterId`, oldest first. */
export function eventsAfter(db: Db, afterId: string, limit: number) {
  return db.selectFrom("events").selectAll().where("id", ">", afterId).orderBy("id").limit(limit).execute();
}

/** The newest event's id, or null on an empty log. */
export async function maxEventId(db: Db): Promise<string | null> {
  const r = await db
    .selectFrom("events")
    .select((eb) => eb.fn.max("id").as("id"))
    .executeTakeFirst();
  return r?.id ? String(r.id) : null;
}
