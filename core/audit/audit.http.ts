import { Elysia, t } from "elysia";
import { requireRole } from "../auth/guards.ts";
import { requireUser } from "../auth/auth.http.ts";
import { AppError } from "../errors.ts";
import type { ApiContext } from "../runtime.ts";
import { audit, auditJson, exportAudit, listAudit, verifyAuditChain, type AuditFilter } from "./audit.service.ts";

const Filter = {
  actor: t.Optional(t.String({ minLength: 1, maxLength: 254 })),
  action: t.Optional(t.String({ minLength: 1, maxLength: 100, pattern: "^[a-z0-9_.-]+$" })),
  target_id: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
  since: t.Optional(t.String({ format: "date-time" })),
  until: t.Optional(t.String({ format: "date-time" })),
};
const AuditEntry = t.Object({
  id: t.String(),
  at: t.String(),
  actor_id: t.Union([t.String(), t.Null()]),
  actor_email: t.Union([t.String(), t.Null()]),
  actor_role: t.Union([t.String(), t.Null()]),
  token_id: t.Union([t.String(), t.Null()]),
  action: t.String(),
  target_type: t.Union([t.String(), t.Null()]),
  target_id: t.Union([t.String(), t.Null()]),
  ip: t.Union([t.String(), t.Null()]),
  user_agent: t.Union([t.String(), t.Null()]),
  request_id: t.Union([t.String(), t.Null()]),
  detail: t.Record(t.String(), t.Unknown()),
  seq: t.Union([t.String(), t.Null()]),
  hash: t.Union([t.String(), t.Null()]),
});

function filterOf(q: { actor?: string; action?: string; target_id?: string; since?: string; until?: string }): Omit<AuditFilter, "limit"> {
  const since = q.since ? new Date(q.since) : undefined;
  const until = q.until ? new Date(q.until) : undefined;
  if ((since && Number.isNaN(since.getTime())) || (until && Number.isNaN(until.getTime())))
    throw new AppError("bad_request", "since and until must be RFC 3339 times");
  return { actor: q.actor, action: q.action, targetId: q.target_id, since, until };
}

/** The audit trail, for admins: query (newest first, paged by `before`) and export (CSV or NDJSON, oldest first). */
export function auditRoutes(rt: ApiContext) {
  const db = () => rt.database.db;
  const tags = ["admin"];
  return new Elysia({ prefix: "/api/v1/admin/audit", name: "audit" })
    .use(requireUser(rt))
    .get(
      "/",
      async ({ user, query }) => {
        requireRole(user, "admin");
        const limit = query.limit ?? 100;
        const rows = await listAudit(db(), { ...filterOf(query), before: query.before, limit });
        return { entries: rows.map(auditJson), next_before: rows.length === limit ? String(rows[rows.length - 1]!.id) : null };
      },
      {
        query: t.Object({ ...Filter, before: t.Optional(t.String({ pattern: "^[0-9]{1,18}$" })), limit: t.Optional(t.Integer({ minimum: 1, maximum: 1000 })) }),
        response: { 200: t.Object({ entries: t.Array(AuditEntry), next_before: t.Union([t.String(), t.Null()]) }) },
        detail: { tags, summary: "Audit entries, newest first; filter by actor (id or email), action (exact, or prefix ending in '.'), target, time" },
      },
    )
    .get(
      "/verify",
      async ({ user }) => {
        requireRole(user, "admin");
        const r = await verifyAuditChain(db());
        await audit(db(), { action: "audit.verified", targetType: "audit", detail: r });
        return r;
      },
      {
        response: {
          200: t.Object({ ok: t.Boolean(), entries: t.Number(), first_bad_seq: t.Union([t.String(), t.Null()]), head_hash: t.Union([t.String(), t.Null()]) }),
        },
        detail: {
          tags,
          summary:
            "Recompute the audit hash chain: ok, or the first entry that was changed or removed; the newest good hash to compare with a copy kept elsewhere",
        },
      },
    )
    .get(
      "/export",
      async ({ user, query }) => {
        requireRole(user, "admin");
        const format = query.format ?? "ndjson";
        const filter = filterOf(query);
        // The export is itself audited, before the first byte leaves.
        await audit(db(), { action: "audit.exported", targetType: "audit", detail: { format, ...query } });
        const stamp = new Date().toISOString().replace(/[:.]/g, "-");
        return new Response(exportAudit(db(), filter, format), {
          headers: {
            "content-type": format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson",
            "content-disposition": `attachment; filename="rter-audit-${stamp}.${format === "csv" ? "csv" : "ndjson"}"`,
            "cache-control": "no-store",
          },
        });
      },
      {
        query: t.Object({ ...Filter, format: t.Optional(t.Union([t.Literal("csv"), t.Literal("ndjson")])) }),
        detail: { tags, summary: "Export matching audit entries as CSV or NDJSON (oldest first, streamed)" },
      },
    );
}
