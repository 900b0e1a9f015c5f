import type { Kysely, Transaction } from "kysely";
import type { DB } from "../db/schema.ts";
import { currentRequest } from "../request-context.ts";
import { type AuditInsert, insertAudit, insertAuditUnlessRecent, type AuditFilter, listAudit, verifyChain } from "./audit.repository.ts";

/**
 * The audit trail: who did what, to what, when, from where. Append-only in the database (a
 * trigger refuses UPDATE, DELETE and TRUNCATE). Write it in the same transaction as the change
 * when there is one, so there is no change without its record.
 *
 * Actions in use (others may add theirs, dotted, noun first):
 *   login, login.failed, login.locked, logout, invite.created, invite.revoked, invite.accepted, invite.refused,
 *   user.created, user.role_changed, user.disabled, user.enabled, user.unlocked, user.password_changed,
 *   user.password_change_refused, user.password_reset,
 *   token.created, token.revoked, chunk.stored, init.stored, stream.viewed, recording.downloaded, photo.viewed,
 *   stream.deleted, stream.delete_refused, stream.finished_idle, stream.reopened, item.deleted,
 *   item.delete_refused, hold.placed, hold.released, retention.set, retention.cleared,
 *   retention.deleted, audit.exported, audit.verified, item.commented, item.edited,
 *   export.requested, export.built, export.failed, export.downloaded
 */
export interface AuditEntry {
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  detail?: Record<string, unknown>;
  /** Defaults to the signed-in caller of the current request; null = nobody (failed login, a job). */
  actor?: { id: string | null; email: string | null; role: string | null; tokenId?: string | null } | null;
}

type Db = Kysely<DB> | Transaction<DB>;

/** The row an entry becomes, with the caller of the current request; for writes that insert it themselves in one statement. */
export function auditRow(e: AuditEntry): AuditInsert {
  const req = currentRequest();
  const a =
    e.actor !== undefined ? e.actor : req?.actor ? { id: req.actor.userId, email: req.actor.email, role: req.actor.role, tokenId: req.actor.tokenId } : null;
  return {
    action: e.action,
    target_type: e.targetType ?? null,
    target_id: e.targetId ?? null,
    detail: JSON.stringify(e.detail ?? {}),
    actor_id: a?.id ?? null,
    actor_email: a?.email ?? null,
    actor_role: a?.role ?? null,
    token_id: a?.tokenId ?? null,
    ip: req?.ip ?? null,
    user_agent: req?.userAgent ? req.userAgent.slice(0, 300) : null,
    request_id: req?.requestId ?? null,
  };
}

export async function audit(db: Db, e: AuditEntry): Promise<void> {
  await insertAudit(db, auditRow(e));
}

// Players fetch a live playlist every second or two; one "viewed" record per user, stream and
// few minutes is what an investigator needs. This node remembers what it recorded; the database
// check catches what another node recorded.
export const VIEW_DEDUPE_MS = 5 * 60_000;

/** One node's memory of the views it recorded (on the node's API context, core/runtime.ts). */
export class ViewDedupe {
  private readonly recent = new Map<string, number>();

  /** True when this key was not recorded within VIEW_DEDUPE_MS; remembers it from now. */
  claim(key: string, now = Date.now()): boolean {
    if ((this.recent.get(key) ?? 0) > now) return false;
    if (this.recent.size > 20_000) for (const [k, until] of this.recent) if (until <= now) this.recent.delete(k);
    this.recent.set(key, now + VIEW_DEDUPE_MS);
    return true;
  }
}

/** A read of something (a stream's playlist, a recording): recorded at most once per actor, target and VIEW_DEDUPE_MS. */
export async function auditView(db: Db, views: ViewDedupe, e: AuditEntry & { targetId: string }): Promise<void> {
  const r = auditRow(e);
  if (!views.claim(`${r.actor_id}|${e.action}|${e.targetId}`)) return;
  await insertAuditUnlessRecent(db, r, VIEW_DEDUPE_MS);
}

export { listAudit, type AuditFilter };

const CSV_COLUMNS = [
  "id",
  "at",
  "actor_id",
  "actor_email",
  "actor_role",
  "token_id",
  "action",
  "target_type",
  "target_id",
  "ip",
  "user_agent",
  "request_id",
  "detail",
  "seq",
  "hash",
] as const;

/** One CSV field. Cells a spreadsheet would run as a formula (=, +, -, @, tab, CR) get a leading quote mark. */
export function csvField(v: unknown): string {
  let s = v === null || v === undefined ? "" : v instanceof Date ? v.toISOString() : typeof v === "object" ? JSON.stringify(v) : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export type AuditRow = Awaited<ReturnType<typeof listAudit>>[number];

export function auditJson(r: AuditRow) {
  return {
    id: String(r.id),
    at: new Date(r.at).toISOString(),
    actor_id: r.actor_id,
    actor_email: r.actor_email,
    actor_role: r.actor_role,
    token_id: r.token_id,
    action: r.action,
    target_type: r.target_type,
    target_id: r.target_id,
    ip: r.ip,
    user_agent: r.user_agent,
    request_id: r.request_id,
    detail: (r.detail ?? {}) as Record<string, unknown>,
    seq: r.seq === null ? null : String(r.seq),
    hash: r.hash ? Buffer.from(r.hash).toString("hex") : null,
  };
}

/**
 * Recomputes the hash chain in the database. `ok` false names the first entry that does not
 * hold (changed, removed or inserted behind the triggers' back); `head_hash` is the newest good
 * hash: compare it with a copy kept elsewhere to prove nothing before it was rewritten.
 */
export async function verifyAuditChain(db: Kysely<DB>): Promise<{ ok: boolean; entries: number; first_bad_seq: string | null; head_hash: string | null }> {
  const r = await verifyChain(db);
  return {
    ok: r.first_bad_seq === null,
    entries: Number(r.entries),
    first_bad_seq: r.first_bad_seq,
    head_hash: r.head_hash ? Buffer.from(r.head_hash).toString("hex") : null,
  };
}

/** Streams every matching entry, oldest first, in pages of 1000: an export never holds the whole log in memory. */
export function exportAudit(db: Kysely<DB>, filter: Omit<AuditFilter, "before" | "limit" | "after">, format: "csv" | "ndjson"): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let after: string | undefined;
  let header = format === "csv";
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      try {
        const rows = await listAudit(db, { ...filter, after, limit: 1000, order: "asc" });
        let out = "";
        if (header) {
          out += CSV_COLUMNS.join(",") + "\r\n";
          header = false;
        }
        for (const r of rows) {
          const j = auditJson(r);
          out += format === "ndjson" ? JSON.stringify(j) + "\n" : CSV_COLUMNS.map((c) => csvField(j[c])).join(",") + "\r\n";
        }
        if (out) ctrl.enqueue(enc.encode(out));
        if (rows.length < 1000) ctrl.close();
        else after = String(rows[rows.length - 1]!.id);
      } catch (e) {
        ctrl.error(e);
      }
    },
  });
}
