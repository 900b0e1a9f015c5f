import { sql, type Kysely } from "kysely";

/**
 * graphile-worker's add_job, the only statement that puts a job on the queue. The rules (which
 * task ids exist, their priority, attempt bounds) are enqueue.ts's; this is the SQL alone.
 */
export interface AddJob {
  task: string;
  payload: unknown;
  queueName?: string;
  jobKey?: string;
  jobKeyMode?: "replace" | "preserve_run_at";
  maxAttempts?: number;
  runAt?: Date;
  priority: number;
}

/** The add_job call as an expression, for a write that enqueues inside one statement of its own. */
export function addJobExpression(j: AddJob) {
  return sql<{ id: string }>`graphile_worker.add_job(
        identifier := ${j.task},
        payload := ${JSON.stringify(j.payload ?? {})}::json,
        queue_name := ${j.queueName ?? null}::text,
        run_at := ${j.runAt ?? null}::timestamptz,
        max_attempts := ${j.maxAttempts ?? null}::int,
        job_key := ${j.jobKey ?? null}::text,
        priority := ${j.priority}::int,
        job_key_mode := ${j.jobKeyMode ?? "replace"}::text
      )`;
}

/** Adds the job (in the caller's transaction when given one); its id. */
export async function addJob(db: Kysely<any>, j: AddJob): Promise<string> {
  const { rows } = await sql<{ id: string }>`select (${addJobExpression(j)}).id::text as id`.execute(db);
  return rows[0]!.id;
}
