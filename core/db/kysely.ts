import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { addTiming } from "../perf.ts";
import type { Logger } from "../log.ts";
import type { DB } from "./schema.ts";

export interface DbOptions {
  url: string;
  poolMax: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
  applicationName: string;
}

export interface Database {
  db: Kysely<DB>;
  /** For connections that must not come from the pool (LISTEN, advisory locks). */
  url: string;
  /** Shared with graphile-worker so one process holds one pool. */
  pool: pg.Pool;
  close(): Promise<void>;
}

/** One pool per process. Every query carries a statement timeout; waiting for a connection is bounded. */
export function openDatabase(opts: DbOptions, log: Logger): Database {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolMax,
    connectionTimeoutMillis: opts.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    statement_timeout: opts.statementTimeoutMs,
    // Client-side bound too: a dead server that never answers must not hang a request.
    query_timeout: opts.statementTimeoutMs + 2_000,
    application_name: opts.applicationName,
    keepAlive: true,
  });
  // An idle client losing its server emits 'error' on the pool; unhandled, it would kill the process.
  pool.on("error", (err) => log.warn("postgres idle client error", { err: err.message }));
  // A checked-out client whose server dies emits 'error' too; the query in flight rejects anyway.
  pool.on("connect", (client) => client.on("error", (err) => log.debug("postgres client error", { err: err.message })));
  const db = new Kysely<DB>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => addTiming("db", event.queryDurationMillis),
  });
  return {
    db,
    url: opts.url,
    pool,
    close: async () => {
      await db.destroy();
    },
  };
}

/** Waits for Postgres at start (it may still be booting), with backoff, up to a deadline. */
export async function waitForDatabase(pool: pg.Pool, deadlineMs: number, log: Logger): Promise<void> {
  const until = Date.now() + deadlineMs;
  let delay = 200;
  for (let attempt = 1; ; attempt++) {
    try {
      await pool.query("select 1");
      return;
    } catch (e) {
      if (Date.now() + delay > until) throw new Error(`Postgres not reachable: ${(e as Error).message}`);
      if (attempt === 1 || attempt % 5 === 0) log.warn("waiting for Postgres", { err: (e as Error).message });
      await Bun.sleep(delay);
      delay = Math.min(delay * 2, 3_000);
    }
  }
}
