import { Migrator } from "kysely/migration";
import pg from "pg";
import { Logger as GwLogger, runMigrations as runQueueMigrations } from "graphile-worker";
import type { Database } from "./kysely.ts";
import { migrationProvider } from "./migrations/index.ts";
import type { Logger } from "../log.ts";

// Arbitrary but fixed: every rter node contends for the same session-level advisory lock.
const MIGRATION_LOCK = 7_204_611_001;

/**
 * Applies our migrations and graphile-worker's. Several nodes may start at once against an empty
 * database: Kysely's own lock table and `create ... if not exists` race each other there, so the
 * whole run sits under one session advisory lock held on a dedicated connection.
 */
export async function migrateToLatest(database: Database, url: string, log: Logger): Promise<string[]> {
  const lockClient = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await lockClient.connect();
  try {
    await lockClient.query("select pg_advisory_lock($1)", [MIGRATION_LOCK]);
    const migrator = new Migrator({ db: database.db, provider: migrationProvider });
    const { error, results } = await migrator.migrateToLatest();
    const applied = (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
    const failed = (results ?? []).find((r) => r.status === "Error");
    if (error) throw new Error(`migration ${failed?.migrationName ?? ""} failed: ${(error as Error).message ?? String(error)}`);
    await runQueueMigrations({ pgPool: database.pool, logger: quietQueueLogger(log) });
    for (const name of applied) log.info("migration applied", { name });
    return applied;
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
