import { sql, type Kysely } from "kysely";
import type { DB } from "../db/schema.ts";

/**
 * Queries behind worker liveness: each worker's heartbeat row, and the sweep that hands a dead
 * worker's locked jobs back to the queue. graphile-worker itself only reclaims a lock after 4 hours;
 * `locked_by` is the id of the graphile-worker pool that took the job.
 */

// Arbitrary but fixed: one sweeper at a time across the cluster; the others skip that round.
const SWEEP_LOCK = 7_204_611_002;

/** Upserts this worker's row on the database clock. `inserted`: there was no row (first beat, or swept as dead). */
export async function beat(db: Kysely<DB>, nodeId: string, poolIds: string[], jobs: string): Promise<{ inserted: boolean }> {
  const { rows } = await sql<{ inserted: boolean }>`
    insert into worker_heartbeats as h (node_id, pool_ids, jobs, started_at, last_seen)
    values (${nodeId}, ${poolIds}::text[], ${jobs}, now(), now())
    on conflict (node_id) do update set pool_ids = excluded.pool_ids, jobs = excluded.jobs, last_seen = now()
    returning (xmax = 0) as inserted`.execute(db);
  return { inserted: rows[0]!.inserted };
}

export async function removeHeartbeat(db: Kysely<DB>, nodeId: string): Promise<void> {
  await db.deleteFrom("worker_heartbeats").where("node_id", "=", nodeId).execute();
}

export interface ReleasedLocks {
  /** The dead worker's node id; null for locks held by a pool no heartbeat row claims. */
  node: string | null;
  pools: string[];
  lastSeen: Date | null;
  /** Jobs handed back to the queue. */
  jobs: number;
}

export interface SweepResult {
  /** Another sweeper held the lock; nothing was looked at. */
  skipped: boolean;
  released: ReleasedLocks[];
}

/**
 * One transaction under a try-lock: rows silent longer than `deadAfterMs` are deleted (the delete
 * is the claim, so two sweepers never act on one row), then every pool that still holds locks older
 * than the window without a heartbeat row (a worker that died before its first beat) is added.
 * Their jobs get a last_error naming what happened, then force_unlock_workers frees jobs and named
 * queues, and a jobs:insert notification wakes idle workers instead of waiting for their poll.
 */
export async function sweepDeadWorkers(db: Kysely<DB>, opts: { me: string; deadAfterMs: number }): Promise<SweepResult> {
  const window = sql`make_interval(secs => ${opts.deadAfterMs / 1000}::float8)`;
  return db.transaction().execute(async (trx) => {
    const lock = await sql<{ got: boolean }>`select pg_try_advisory_xact_lock(${SWEEP_LOCK}::bigint) as got`.execute(trx);
    if (!lock.rows[0]!.got) return { skipped: true, released: [] };

    const dead = await sql<{ node_id: string; pool_ids: string[]; last_seen: Date }>`
      delete from worker_heartbeats
      where last_seen < now() - ${window} and node_id <> ${opts.me}
      returning node_id, pool_ids, last_seen`.execute(trx);
    const orphans = await sql<{ pool: string; since: Date }>`
      select locked_by as pool, min(locked_at) as since from (
        select locked_by, locked_at from graphile_worker._private_jobs where locked_by is not null
        union all
        select locked_by, locked_at from graphile_worker._private_job_queues where locked_by is not null
      ) l
      where locked_at < now() - ${window}
        and not exists (select 1 from worker_heartbeats h where l.locked_by = any(h.pool_ids))
      group by locked_by`.execute(trx);

    const claimed = new Set(dead.rows.flatMap((r) => r.pool_ids));
    const groups: { node: string | null; pools: string[]; lastSeen: Date | null; reason: string }[] = [
      ...dead.rows.map((r) => ({
        node: r.node_id,
        pools: r.pool_ids,
        lastSeen: r.last_seen,
        reason: `worker ${r.node_id} stopped heartbeating (last seen ${new Date(r.last_seen).toISOString()}); lock released by ${opts.me}`,
      })),
      ...orphans.rows
        .filter((o) => !claimed.has(o.pool))
        .map((o) => ({ node: null, pools: [o.pool], lastSeen: null, reason: `lock of queue pool ${o.pool} held by no live worker; released by ${opts.me}` })),
    ];
    const released: ReleasedLocks[] = [];
    let total = 0;
    for (const g of groups) {
      if (!g.pools.length) {
        released.push({ node: g.node, pools: [], lastSeen: g.lastSeen, jobs: 0 });
        continue;
      }
      const jobs = await sql<{ id: string }>`
        update graphile_worker._private_jobs set last_error = ${g.reason}
        where locked_by = any(${g.pools}::text[]) returning id`.execute(trx);
      await sql`select graphile_worker.force_unlock_workers(${g.pools}::text[])`.execute(trx);
      released.push({ node: g.node, pools: g.pools, lastSeen: g.lastSeen, jobs: jobs.rows.length });
      total += jobs.rows.length;
    }
    if (total > 0) await sql`select pg_notify('jobs:insert', json_build_object('count', ${total}::int)::text)`.execute(trx);
    return { skipped: false, released };
  });
}

/** Hands the jobs these graphile-worker pools still hold back to the queue (their runner is gone). */
export async function forceUnlockPools(db: Kysely<DB>, poolIds: string[]): Promise<void> {
  await sql`select graphile_worker.force_unlock_workers(${poolIds}::text[])`.execute(db);
}
