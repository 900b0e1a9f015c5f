import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries for evidence packages: `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

export function insertExport(db: Db, row: { requested_by: string; request: unknown; selection: unknown }) {
  return db
    .insertInto("exports")
    .values({ requested_by: row.requested_by, request: JSON.stringify(row.request), selection: JSON.stringify(row.selection) })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export function findExport(db: Db, id: string) {
  return db.selectFrom("exports").selectAll().where("id", "=", id).executeTakeFirst();
}
export type ExportRow = NonNullable<Awaited<ReturnType<typeof findExport>>>;

export function latestExports(db: Db, limit: number) {
  return db.selectFrom("exports").selectAll().orderBy("created_at", "desc").limit(limit).execute();
}

export function updateExport(
  db: Db,
  id: string,
  set: Partial<{
    state: "queued" | "building" | "ready" | "failed";
    progress: number;
    files: number;
    error: string | null;
    object_key: string;
    size: number;
    sha256: string;
    manifest_sha256: string;
    audit_head_seq: string;
    finished_at: Date;
  }>,
) {
  return db.updateTable("exports").set(set).where("id", "=", id).execute();
}

export function existingStreamIds(db: Db, ids: string[]) {
  return ids.length ? db.selectFrom("streams").select("id").where("id", "in", ids).execute() : Promise.resolve([]);
}

export function existingItems(db: Db, ids: string[]) {
  return ids.length ? db.selectFrom("items").select(["id", "stream_id"]).where("id", "in", ids).execute() : Promise.resolve([]);
}

/** Items (with their stream, if any) of a tag and/or a time window: streams that overlap it, other items created in it. */
export function itemsInScope(db: Db, f: { tagId?: string; from?: Date; to?: Date; limit: number }) {
  let q = db.selectFrom("items as i").leftJoin("streams as s", "s.id", "i.stream_id").select(["i.id", "i.stream_id"]);
  if (f.tagId)
    q = q.where((eb) => eb.exists(eb.selectFrom("item_tags as m").select("m.item_id").whereRef("m.item_id", "=", "i.id").where("m.tag_id", "=", f.tagId!)));
  if (f.to) q = q.where(sql<boolean>`coalesce(s.created_at, i.created_at) <= ${f.to}`);
  if (f.from) q = q.where(sql<boolean>`coalesce(s.finished_at, case when s.id is not null then now() end, i.created_at) >= ${f.from}`);
  return q.orderBy("i.created_at").limit(f.limit).execute();
}

export function itemIdsOfStreams(db: Db, streamIds: string[]) {
  return streamIds.length ? db.selectFrom("items").select("id").where("stream_id", "in", streamIds).execute() : Promise.resolve([]);
}

export function streamForPackage(db: Db, id: string) {
  return db
    .selectFrom("streams as s")
    .innerJoin("users as u", "u.id", "s.owner_id")
    .selectAll("s")
    .select("u.email as owner_email")
    .where("s.id", "=", id)
    .executeTakeFirst();
}

export function chunksOf(db: Db, streamId: string) {
  return db.selectFrom("chunks").selectAll().where("stream_id", "=", streamId).orderBy("seq").execute();
}

export function initOf(db: Db, streamId: string) {
  return db.selectFrom("stream_inits").selectAll().where("stream_id", "=", streamId).executeTakeFirst();
}

export function telemetryOf(db: Db, streamId: string) {
  return db.selectFrom("telemetry").selectAll().where("stream_id", "=", streamId).orderBy("t").execute();
}

export function guidanceOf(db: Db, streamId: string) {
  return db
    .selectFrom("guidance as g")
    .leftJoin("users as u", "u.id", "g.set_by")
    .select(["g.id", "g.created_at", "g.cleared_at", "g.lat", "g.lng", "g.heading", "g.message", "u.email as set_by"])
    .where("g.stream_id", "=", streamId)
    .orderBy("g.id")
    .execute();
}

export function itemsForPackage(db: Db, ids: string[]) {
  if (!ids.length) return Promise.resolve([]);
  return db
    .selectFrom("items as i")
    .innerJoin("users as u", "u.id", "i.author_id")
    .select([
      "i.id",
      "i.kind",
      "i.stream_id",
      "i.title",
      "i.body",
      "i.url",
      "i.lat",
      "i.lng",
      "i.heading",
      "i.position_at",
      "i.created_at",
      "i.photo_key",
      "i.photo_type",
      "i.photo_sha256",
      "u.email as author_email",
    ])
    .select(
      sql<{ name: string; added_at: string; auto: boolean }[]>`coalesce((
        select json_agg(json_build_object('name', t.name, 'added_at', it.added_at, 'auto', it.auto) order by t.name)
        from item_tags it join tags t on t.id = it.tag_id where it.item_id = i.id), '[]'::json)`.as("tags"),
    )
    .select(
      sql<{ id: string; author: string; body: string; created_at: string }[]>`coalesce((
        select json_agg(json_build_object('id', c.id, 'author', cu.email, 'body', c.body, 'created_at', c.created_at) order by c.created_at, c.id)
        from item_comments c join users cu on cu.id = c.author_id where c.item_id = i.id), '[]'::json)`.as("comments"),
    )
    .where("i.id", "in", ids)
    .orderBy("i.created_at")
    .execute();
}

/** The newest entry of the audit chain (ordered by the bigint column: the text alias would sort "9" after "14"). */
export async function auditHead(db: Db): Promise<{ seq: string; hash: string } | null> {
  const { rows } = await sql<{
    seq: string;
    hash: string;
  }>`select a.seq::text as seq, encode(a.hash, 'hex') as hash from audit_log a where a.seq is not null order by a.seq desc limit 1`.execute(db);
  return rows[0] ?? null;
}

/**
 * Audit entries about any of `targets` up to `headSeq`, with the exact text the chain hashed
 * (the same expression as rter_audit_hash in migration 0009), in pages by seq.
 */
export async function auditExtractPage(db: Db, targets: string[], afterSeq: string, headSeq: string, limit: number) {
  const { rows } = await sql<{
    seq: string;
    prev_hash: string | null;
    hash: string;
    canonical: string;
    at: string;
    actor_id: string | null;
    actor_email: string | null;
    actor_role: string | null;
    token_id: string | null;
    action: string;
    target_type: string | null;
    target_id: string | null;
    ip: string | null;
    user_agent: string | null;
    request_id: string | null;
    detail: unknown;
  }>`
    select r.seq::text as seq, encode(r.prev_hash, 'hex') as prev_hash, encode(r.hash, 'hex') as hash,
      jsonb_build_array(
        r.seq, to_char(r.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), r.actor_id, r.actor_email, r.actor_role,
        r.token_id, r.action, r.target_type, r.target_id, r.ip, r.user_agent, r.request_id, r.detail
      )::text as canonical,
      to_char(r.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at,
      r.actor_id::text as actor_id, r.actor_email, r.actor_role, r.token_id::text as token_id, r.action, r.target_type, r.target_id,
      r.ip, r.user_agent, r.request_id, r.detail
    from audit_log r
    where r.target_id = any(${targets}::text[]) and r.seq > ${afterSeq}::bigint and r.seq <= ${headSeq}::bigint
    order by r.seq
    limit ${limit}`.execute(db);
  return rows;
}
