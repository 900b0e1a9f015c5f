import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";
import { isUuid } from "../ids.ts";

/** Thin queries over audit_log: `db` first, no rules. There is no update or delete here, by design. */
type Db = Kysely<DB> | Transaction<DB>;

export interface AuditInsert {
  action: string;
  target_type: string | null;
  target_id: string | null;
  detail: string;
  actor_id: string | null;
  actor_email: string | null;
  actor_role: string | null;
  token_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
}

export function insertAudit(db: Db, r: AuditInsert) {
  return db.insertInto("audit_log").values(r).execute();
}

/** Inserts unless the same actor already has the same action on the same target within `withinMs`. */
export async function insertAuditUnlessRecent(db: Db, r: AuditInsert, withinMs: number) {
  await sql`
    insert into audit_log (action, target_type, target_id, detail, actor_id, actor_email, actor_role, token_id, ip, user_agent, request_id)
    select ${r.action}, ${r.target_type}, ${r.target_id}, ${r.detail}::jsonb, ${r.actor_id}::uuid, ${r.actor_email}, ${r.actor_role}, ${r.token_id}::uuid, ${r.ip}, ${r.user_agent}, ${r.request_id}
    where not exists (
      select 1 from audit_log
      where target_id = ${r.target_id} and action = ${r.action} and actor_id is not distinct from ${r.actor_id}::uuid
        and at > clock_timestamp() - make_interval(secs => ${withinMs / 1000}::float8)
    )`.execute(db);
}

export interface AuditFilter {
  /** A user id, or an email address. */
  actor?: string;
  /** Exact action, or a prefix ending in '.' ("stream." = every stream action). */
  action?: string;
  targetId?: string;
  since?: Date;
  until?: Date;
  /** Keyset paging: entries with a smaller id (newest first). */
  before?: string;
  /** Entries with a larger id (oldest first, for exports). */
  after?: string;
  limit: number;
  order?: "asc" | "desc";
}

export function listAudit(db: Db, f: AuditFilter) {
  let q = db.selectFrom("audit_log").selectAll();
  if (f.actor) q = isUuid(f.actor) ? q.where("actor_id", "=", f.actor) : q.where(sql`lower(actor_email)`, "=", f.actor.toLowerCase());
  if (f.action) q = f.action.endsWith(".") ? q.where("action", "like", `${f.action.replace(/[\\%_]/g, "\\$&")}%`) : q.where("action", "=", f.action);
  if (f.targetId) q = q.where("target_id", "=", f.targetId);
  if (f.since) q = q.where("at", ">=", f.since);
  if (f.until) q = q.where("at", "<", f.until);
  if (f.before) q = q.where("id", "<", f.before);
  if (f.after) q = q.where("id", ">", f.after);
  return q
    .orderBy("id", f.order ?? "desc")
    .limit(f.limit)
    .execute();
}

/** rter_audit_verify() (migration 0009) walks the whole chain in the database. */
export async function verifyChain(db: Db) {
  const { rows } = await sql<{ entries: string; first_bad_seq: string | null; head_hash: Buffer | null }>`select * from rter_audit_verify()`.execute(db);
  return rows[0]!;
}

/** The chain's newest entry (highest seq), or undefined on an empty chain. */
export async function newestChainEntry(db: Db) {
  const { rows } = await sql<{
    seq: string;
    hash: Buffer;
    at: Date;
  }>`select seq::text, hash, at from audit_log where seq is not null order by seq desc limit 1`.execute(db);
  return rows[0];
}

/** Entries with this hash or at this seq (null: by hash alone), in seq order. */
export async function entriesByHashOrSeq(db: Db, hash: Buffer, seq: number | null) {
  const { rows } = await sql<{
    seq: string;
    hash: Buffer;
  }>`select seq::text, hash from audit_log where hash = ${hash} or seq = ${seq ?? -1} order by seq`.execute(db);
  return rows;
}
