import type pg from "pg";

/**
 * Two database roles, so that the credentials every rter node holds cannot undo the evidence:
 * the owner role runs migrations (it owns the tables, so it could disable the append-only and
 * legal-hold triggers); the runtime role the app runs as gets plain DML on the tables it uses and
 * nothing else — no DDL, no TRUNCATE, no ALTER, no trigger control, no ownership. Where a table's
 * rows must never change or vanish, the runtime role does not even get the verb: audit entries are
 * only inserted, and a legal hold is released by an update (the guard trigger checks it), never
 * deleted.
 */

/** The runtime role of the embedded Postgres (the owner there is the cluster's superuser). */
export const EMBEDDED_RUNTIME_ROLE = "rter_app";

/** Tables whose rights are narrower than SELECT, INSERT, UPDATE, DELETE. */
const NARROW: Record<string, string> = {
  audit_log: "select, insert",
  legal_holds: "select, insert, update",
  // Read to see whether migrations are pending; only the owner writes them.
  kysely_migration: "select",
  kysely_migration_lock: "select",
};

/** The user name in a postgres:// URL (the role that URL signs in as). */
export function urlRole(url: string): string {
  const u = new URL(url);
  return decodeURIComponent(u.username) || "postgres";
}

/** The same URL signing in as another role (the embedded cluster trusts loopback: no password). */
export function urlAsRole(url: string, role: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(role);
  u.password = "";
  return u.toString();
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Creates a login role without any attribute (embedded mode; the playbooks create theirs). */
export async function ensureLoginRole(client: pg.ClientBase, role: string): Promise<void> {
  const exists = await client.query("select 1 from pg_roles where rolname = $1", [role]);
  if (exists.rowCount) return;
  await client
    .query(`create role ${ident(role)} login nosuperuser nocreatedb nocreaterole noinherit noreplication nobypassrls`)
    .catch((e: { code?: string }) => {
      // Two nodes starting at once: the other one made it.
      if (e.code !== "42710" && e.code !== "23505") throw e;
    });
}

/**
 * What makes a role unfit to be the runtime role: it owns what it should only use, or its
 * attributes step over every privilege. Empty when fit.
 */
export async function runtimeRoleProblems(client: pg.ClientBase, role: string): Promise<string[]> {
  const r = await client.query<{ rolsuper: boolean; rolbypassrls: boolean; rolcreaterole: boolean; owned: string }>(
    `select r.rolsuper, r.rolbypassrls, r.rolcreaterole,
            (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
              where c.relowner = r.oid and n.nspname in ('public', 'graphile_worker'))::text as owned
       from pg_roles r where r.rolname = $1`,
    [role],
  );
  const row = r.rows[0];
  if (!row) return [`role ${role} does not exist`];
  const out: string[] = [];
  if (row.rolsuper) out.push(`${role} is a superuser`);
  if (row.rolcreaterole) out.push(`${role} may create roles`);
  if (row.rolbypassrls) out.push(`${role} bypasses row security`);
  if (Number(row.owned) > 0) out.push(`${role} owns ${row.owned} of rter's tables`);
  return out;
}

/**
 * Sets the runtime role's rights to exactly the table above, run by the owner after every
 * migration (so a new table is covered, and a right granted by hand is taken back). Idempotent.
 */
export async function grantRuntimeRole(client: pg.ClientBase, role: string): Promise<void> {
  const r = ident(role);
  const tables = await client.query<{ schema: string; name: string }>(
    `select n.nspname as schema, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and n.nspname in ('public', 'graphile_worker') order by 1, 2`,
  );
  await client.query("begin");
  try {
    // Rights first taken away wholesale, so what remains is only what is granted below.
    await client.query(`revoke all on all tables in schema public from ${r}`);
    await client.query(`revoke create on schema public from ${r}`);
    await client.query(`grant usage on schema public to ${r}`);
    await client.query(`grant usage, select on all sequences in schema public to ${r}`);
    for (const t of tables.rows) {
      if (t.schema !== "public") continue;
      await client.query(`grant ${NARROW[t.name] ?? "select, insert, update, delete"} on ${ident(t.schema)}.${ident(t.name)} to ${r}`);
    }
    // Which newer migrations are expand-only: read by a node of an older release (a rollback).
    await client.query("grant usage on schema rter_meta to " + r);
    await client.query("grant select on rter_meta.migration_compat to " + r);
    // The job queue's own schema (graphile-worker): DML and its functions; its DDL stays with the owner.
    if (tables.rows.some((t) => t.schema === "graphile_worker")) {
      await client.query(`revoke all on all tables in schema graphile_worker from ${r}`);
      await client.query(`grant usage on schema graphile_worker to ${r}`);
      await client.query(`grant select, insert, update, delete on all tables in schema graphile_worker to ${r}`);
      await client.query(`grant usage, select on all sequences in schema graphile_worker to ${r}`);
      await client.query(`grant execute on all functions in schema graphile_worker to ${r}`);
      // Its private tables have row security on with no policy, so only their owner sees rows: the
      // runtime role gets a see-all policy (row security stays on for everyone else).
      const rls = await client.query<{ name: string }>(
        `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'graphile_worker' and c.relkind in ('r', 'p') and c.relrowsecurity`,
      );
      const policy = ident(`rter_runtime_${role}`.slice(0, 63));
      for (const t of rls.rows) {
        const table = `graphile_worker.${ident(t.name)}`;
        await client.query(`drop policy if exists ${policy} on ${table}`);
        await client.query(`create policy ${policy} on ${table} for all to ${r} using (true) with check (true)`);
      }
    }
    // The expand/contract marks: read when this binary meets a newer schema.
    const meta = await client.query("select to_regclass('rter_meta.migration_compat') as t");
    if (meta.rows[0]?.t) {
      await client.query(`grant usage on schema rter_meta to ${r}`);
      await client.query(`grant select on rter_meta.migration_compat to ${r}`);
    }
    await client.query("commit");
  } catch (e) {
    await client.query("rollback").catch(() => {});
    throw e;
  }
}
