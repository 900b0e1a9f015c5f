import { sql, type Kysely, type RawBuilder } from "kysely";
import type { DB } from "../db/schema.ts";

/**
 * graphile-worker's job table, read and rescheduled through its own functions where it has them.
 * `_private_jobs` is read because the public `jobs` view has no payload.
 */
export interface JobRow {
  id: string;
  task: string;
  queue_name: string | null;
  priority: number;
  payload: string;
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  run_at: Date;
  created_at: Date;
  updated_at: Date;
  locked_at: Date | null;
}

/** Job rows from `jobs` (a table or a set-returning call yielding `_private_jobs` rows) as JobRow. */
const selectJobs = (jobs: RawBuilder<unknown>) => sql`
  select j.id::text as id, t.identifier as task, q.queue_name, j.priority,
         case when length(j.payload::text) > 200 then left(j.payload::text, 199) || '…' else j.payload::text end as payload,
         j.attempts, j.max_attempts, left(j.last_error, 2000) as last_error, j.run_at, j.created_at, j.updated_at, j.locked_at
  from ${jobs} j
  join graphile_worker._private_tasks t on t.id = j.task_id
  left join graphile_worker._private_job_queues q on q.id = j.job_queue_id`;
const SELECT = selectJobs(sql`graphile_worker._private_jobs`);

/** Exhausted every attempt and not running: the trouble queue. */
const FAILED = sql`j.attempts >= j.max_attempts and j.locked_at is null`;

export async function listFailedJobs(db: Kysely<DB>, opts: { limit: number; before?: string }): Promise<JobRow[]> {
  const { rows } = await sql<JobRow>`${SELECT}
    where ${FAILED} and (${opts.before ?? null}::bigint is null or j.id < ${opts.before ?? null}::bigint)
    order by j.id desc limit ${opts.limit}`.execute(db);
  return rows;
}

export async function findJob(db: Kysely<DB>, id: string): Promise<JobRow | undefined> {
  const { rows } = await sql<JobRow>`${SELECT} where j.id = ${id}::bigint`.execute(db);
  return rows[0];
}

/**
 * Attempts back to 0 and due now; graphile-worker's reschedule_jobs leaves running jobs alone.
 * Returns the rescheduled jobs as they were written. The notification wakes idle workers at once
 * instead of at their next poll.
 */
export async function rescheduleNow(db: Kysely<DB>, ids: string[] | "all-failed"): Promise<JobRow[]> {
  return db.transaction().execute(async (trx) => {
    const target = ids === "all-failed" ? sql`array(select j.id from graphile_worker._private_jobs j where ${FAILED})` : sql`${ids}::bigint[]`;
    const { rows } =
      await sql<JobRow>`${selectJobs(sql`graphile_worker.reschedule_jobs(${target}, run_at := now(), attempts := 0)`)} order by j.id desc`.execute(trx);
    if (rows.length) await sql`select pg_notify('jobs:insert', json_build_object('count', ${rows.length}::int)::text)`.execute(trx);
    return rows;
  });
}
