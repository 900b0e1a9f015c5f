import { sql, type Kysely, type RawBuilder, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries for the event log: `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

/**
 * The one definition of writing events, for publish() and for writers that put their event in a
 * statement of their own (a CMAF part, a poster): `rows` is a SELECT of (type, stream_id,
 * owner_id, data jsonb), run as a CTE named `name`; `notified` counts the NOTIFY on `channel`
 * (no payload: Postgres folds identical ones of one transaction into one) sent when the CTE
 * inserted anything. A statement using both writes its events and wakes listeners in one round trip.
 */
export function eventWrite(name: string, rows: RawBuilder<unknown>, channel: string) {
  return {
    cte: sql`${sql.id(name)} as (insert into events (type, stream_id, owner_id, data) ${rows} returning id)`,
    notified: sql<string>`(select count(pg_notify(${channel}, '')) from ${sql.id(name)})`,
  };
}

/** One event and its NOTIFY: one statement. */
export async function appendEvent(
  db: Db,
  e: { type: string; stream_id: string | null; owner_id: string | null; data: string },
  channel: string,
): Promise<void> {
  const ev = eventWrite("ev", sql`select ${e.type}, ${e.stream_id}::uuid, ${e.owner_id}::uuid, ${e.data}::jsonb`, channel);
  await sql`with ${ev.cte} select ${ev.notified}`.execute(db);
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
