import { sql, type Kysely } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries for the status indicators: `db` first, no rules. */

/** Jobs waiting to run now, running, permanently failed, and the oldest waiting one's age (s), from graphile-worker's public view. */
export async function queueCounts(db: Kysely<DB>) {
  const { rows } = await sql<{ depth: string; running: string; failed: string; oldest: number | null }>`
    select count(*) filter (where locked_at is null and attempts < max_attempts and run_at <= now()) as depth,
           count(*) filter (where locked_at is not null) as running,
           count(*) filter (where attempts >= max_attempts and locked_at is null) as failed,
           extract(epoch from now() - min(run_at) filter (where locked_at is null and attempts < max_attempts and run_at <= now()))::float8 as oldest
    from graphile_worker.jobs`.execute(db);
  return rows[0]!;
}

/** Workers seen within `deadAfterMs`, counted by their --jobs class. */
export async function aliveWorkers(db: Kysely<DB>, deadAfterMs: number) {
  const { rows } = await sql<{ jobs: string; n: string }>`
    select jobs, count(*) as n from worker_heartbeats
    where last_seen > now() - make_interval(secs => ${deadAfterMs / 1000}::float8) group by jobs`.execute(db);
  return rows;
}

/** Live streams, chunk-to-segment lag (p50, p95 over 5 minutes), chunks waiting and failed in the last hour. */
export async function ingestCounts(db: Kysely<DB>) {
  const { rows } = await sql<{ live: string; p50: number | null; p95: number | null; waiting: string; failed: string }>`
    select (select count(*) from streams where state = 'live') as live,
           (select percentile_cont(0.5) within group (order by extract(epoch from s.created_at - c.received_at))
              from segments s join chunks c using (stream_id, seq) where s.created_at > now() - interval '5 minutes') as p50,
           (select percentile_cont(0.95) within group (order by extract(epoch from s.created_at - c.received_at))
              from segments s join chunks c using (stream_id, seq) where s.created_at > now() - interval '5 minutes') as p95,
           (select count(*) from chunks where state = 'stored') as waiting,
           (select count(*) from chunks where state = 'failed' and received_at > now() - interval '1 hour') as failed`.execute(db);
  return rows[0]!;
}
