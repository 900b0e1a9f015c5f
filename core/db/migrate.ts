import { Migrator, type Migration } from "kysely/migration";
import pg from "pg";
import { Logger as GwLogger, runMigrations as runQueueMigrations } from "graphile-worker";
import type { Database } from "./kysely.ts";
import { migrationProvider } from "./migrations/index.ts";
import { grantRuntimeRole } from "./roles.ts";
import type { Logger } from "../log.ts";

// Arbitrary but fixed: every rter node contends for the same session-level advisory lock.
const MIGRATION_LOCK = 7_204_611_001;

/**
 * Expand/contract, so a rollback can run the previous binary against the newer schema: a migration
 * that only adds (tables, nullable or defaulted columns, indexes, functions) exports
 * `expandOnly = true`, and every migrating binary records that mark for each migration it knows in
 * rter_meta.migration_compat (outside public, so generated types and drift checks ignore it). An
 * older binary that finds migrations it does not know runs on that schema when all of them are
 * marked, and refuses to start, naming them, when one is not. Removing or renaming things happens
 * one release later, once no binary that used them can be rolled back to (docs/deploy.md).
 */
export interface RterMigration extends Migration {
  expandOnly?: boolean;
}

export interface MigrateOptions {
  /** After migrating (as the owner), set this role's rights to the runtime set (core/db/roles.ts). */
  runtimeRole?: string;
}

/** A database migrated by a newer binary, with migrations this one cannot run against. */
export class SchemaAheadError extends Error {
  constructor(readonly blocking: string[]) {
    super(
      `the database has migrations this rter does not know and that are not expand-only: ${blocking.join(", ")}; ` +
        "run the release that added them (or a newer one)",
    );
    this.name = "SchemaAheadError";
  }
}

const COMPAT_DDL = `create schema if not exists rter_meta;
  create table if not exists rter_meta.migration_compat (
    name text primary key,
    expand_only boolean not null,
    recorded_at timestamptz not null default now()
  )`;

/** Names of applied migrations (Kysely's table), [] on an empty database. */
async function appliedMigrations(client: pg.Client): Promise<string[]> {
  const exists = await client.query<{ t: string | null }>("select to_regclass('public.kysely_migration')::text as t");
  if (!exists.rows[0]?.t) return [];
  return (await client.query<{ name: string }>("select name from public.kysely_migration order by name")).rows.map((r) => r.name);
}

/**
 * Applies our migrations and graphile-worker's. Several nodes may start at once against an empty
 * database: Kysely's own lock table and `create ... if not exists` race each other there, so the
 * whole run sits under one session advisory lock held on a dedicated connection. A schema ahead of
 * this binary is accepted when every unknown migration is expand-only (see RterMigration).
 */
export async function migrateToLatest(database: Database, url: string, log: Logger, opts: MigrateOptions = {}): Promise<string[]> {
  const lockClient = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await lockClient.connect();
  try {
    await lockClient.query("select pg_advisory_lock($1)", [MIGRATION_LOCK]);
    const known = (await migrationProvider.getMigrations()) as Record<string, RterMigration>;
    const applied = await appliedMigrations(lockClient);
    const ahead = applied.filter((n) => !(n in known));
    // Up to date: no DDL at all, so a node holding only the runtime role (no owner URL) starts.
    if (ahead.length === 0 && Object.keys(known).every((n) => applied.includes(n)) && !opts.runtimeRole) {
      await runQueueMigrations({ pgPool: database.pool, logger: quietQueueLogger(log) });
      return [];
    }
    if (ahead.length > 0) {
      // No DDL here: a node holding only the runtime role starts on a newer schema (a rollback),
      // and the binary that made the schema ahead made this table too (reading it is granted).
      const marked = await lockClient.query<{ name: string }>("select name from rter_meta.migration_compat where expand_only and name = any($1::text[])", [
        ahead,
      ]);
      const ok = new Set(marked.rows.map((r) => r.name));
      const blocking = ahead.filter((n) => !ok.has(n));
      if (blocking.length > 0) throw new SchemaAheadError(blocking);
      // Ours would have to run between newer ones: only a branch build gets here.
      const pending = Object.keys(known).filter((n) => !applied.includes(n));
      if (pending.length > 0) throw new Error(`the database is ahead of this rter (${ahead.join(", ")}) yet lacks its migrations ${pending.join(", ")}`);
      log.warn("database schema is ahead of this binary; running on it (expand-only migrations)", { ahead });
      await runQueueMigrations({ pgPool: database.pool, logger: quietQueueLogger(log) });
      return [];
    }
    await lockClient.query(COMPAT_DDL);
    const migrator = new Migrator({ db: database.db, provider: migrationProvider });
    const { error, results } = await migrator.migrateToLatest();
    const done = (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
    const failed = (results ?? []).find((r) => r.status === "Error");
    if (error) throw new Error(`migration ${failed?.migrationName ?? ""} failed: ${(error as Error).message ?? String(error)}`);
    const names = Object.keys(known);
    await lockClient.query(
      `insert into rter_meta.migration_compat (name, expand_only) select * from unnest($1::text[], $2::boolean[])
       on conflict (name) do update set expand_only = excluded.expand_only, recorded_at = now()
       where rter_meta.migration_compat.expand_only is distinct from excluded.expand_only`,
      [names, names.map((n) => known[n]!.expandOnly === true)],
    );
    await runQueueMigrations({ pgPool: database.pool, logger: quietQueueLogger(log) });
    if (opts.runtimeRole) await grantRuntimeRole(lockClient, opts.runtimeRole);
    for (const name of done) log.info("migration applied", { name });
    return done;
  } finally {
    await lockClient.query("select pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => {});
    await lockClient.end().catch(() => {});
  }
}

/** graphile-worker's logger routed into ours, so its lines are JSON like everything else. */
export function quietQueueLogger(log: Logger): GwLogger {
  return new GwLogger(() => (level, message, meta) => {
    const fields = { src: "graphile-worker", ...(meta as Record<string, unknown>) };
    if (level === "error") log.error(message, fields);
    else if (level === "warning") log.warn(message, fields);
    else log.debug(message, fields);
  });
}
