import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries for deletion and retention settings: `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

/** The stream row (what its audit record keeps), locked until the transaction ends. */
export function lockStreamForDelete(trx: Transaction<DB>, id: string) {
  return trx.selectFrom("streams").select(["id", "owner_id", "title", "state", "created_at"]).where("id", "=", id).forUpdate().executeTakeFirst();
}

export async function countChunks(db: Db, streamId: string): Promise<number> {
  const r = await db
    .selectFrom("chunks")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("stream_id", "=", streamId)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Its chunks, segments, telemetry and item go with it (foreign keys); a held one is refused by trigger (RTH01). */
export async function deleteStreamRow(db: Db, id: string): Promise<void> {
  await db.deleteFrom("streams").where("id", "=", id).execute();
}

export async function streamExists(db: Db, id: string): Promise<boolean> {
  return (await db.selectFrom("streams").select("id").where("id", "=", id).executeTakeFirst()) !== undefined;
}

export async function photoInUse(db: Db, key: string): Promise<boolean> {
  return (await db.selectFrom("items").select("id").where("photo_key", "=", key).executeTakeFirst()) !== undefined;
}

/** The item row (what its audit record keeps), locked until the transaction ends. */
export function lockItemForDelete(trx: Transaction<DB>, id: string) {
  return trx
    .selectFrom("items")
    .select(["id", "kind", "title", "author_id", "photo_key", "photo_sha256", "created_at"])
    .where("id", "=", id)
    .forUpdate()
    .executeTakeFirst();
}

/** A held one is refused by trigger (RTH01). */
export async function deleteItemRow(db: Db, id: string): Promise<void> {
  await db.deleteFrom("items").where("id", "=", id).execute();
}

/** keepDays null = keep forever. */
export async function upsertStreamRetention(db: Db, streamId: string, keepDays: number | null, by: string): Promise<void> {
  await db
    .insertInto("stream_retention")
    .values({ stream_id: streamId, keep_days: keepDays, set_by: by })
    .onConflict((oc) => oc.column("stream_id").doUpdateSet({ keep_days: keepDays, set_by: by, set_at: sql`now()` }))
    .execute();
}

/** keepDays null = keep forever. */
export async function upsertWorkspaceRetention(db: Db, tagId: string, keepDays: number | null, by: string): Promise<void> {
  await db
    .insertInto("workspace_retention")
    .values({ tag_id: tagId, keep_days: keepDays, set_by: by })
    .onConflict((oc) => oc.column("tag_id").doUpdateSet({ keep_days: keepDays, set_by: by, set_at: sql`now()` }))
    .execute();
}

export async function deleteWorkspaceRetention(db: Db, tagId: string): Promise<void> {
  await db.deleteFrom("workspace_retention").where("tag_id", "=", tagId).execute();
}

/**
 * Items whose retention has run out, oldest first. Which rule applies, first match wins: the
 * stream's own keep_days; else its workspaces' (forever if any says so, else the longest); else
 * the default (null = keep forever). Age counts from a stream's finish, an item's creation.
 * Never live streams, never held streams or items.
 */
export async function expiredItems(db: Db, defaultMs: number | null, limit: number): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    select i.id from items i
    left join streams s on s.id = i.stream_id
    left join stream_retention r on r.stream_id = i.stream_id
    left join lateral (
      select count(*) as n, bool_or(w.keep_days is null) as forever, max(w.keep_days) as days
      from item_tags it join workspace_retention w on w.tag_id = it.tag_id
      where it.item_id = i.id
    ) ws on true
    where (i.stream_id is null or s.state <> 'live')
      and coalesce(s.finished_at, s.created_at, i.created_at) < now() - case
        when r.stream_id is not null then make_interval(days => r.keep_days)
        when ws.n > 0 then case when ws.forever then null else make_interval(days => ws.days) end
        else make_interval(secs => ${defaultMs === null ? null : defaultMs / 1000}::float8)
      end
      and not rter_hold_active(i.stream_id, i.id)
    order by coalesce(s.finished_at, s.created_at, i.created_at)
    limit ${limit}`.execute(db);
  return rows.map((r) => r.id);
}
