import type { Kysely } from "kysely";
import { AppError } from "../errors.ts";
import { timed } from "../perf.ts";
import { addJob, addJobExpression } from "./queue.repository.ts";
import { isTaskId, TASK_CLASS, type JobClass, type TaskId } from "./task-classes.ts";

/** graphile-worker runs the lowest number first; batch work waits while live work is ready. */
export const PRIORITY: Record<JobClass, number> = { live: 0, batch: 10 };

export function priorityOf(task: TaskId): number {
  return PRIORITY[TASK_CLASS[task]];
}

export interface EnqueueOptions {
  /** Jobs sharing a queue name run one at a time, in order (e.g. `stream:<id>` for its segments). */
  queueName?: string;
  /** At most one pending job per key: enqueueing again replaces it (see jobKeyMode). */
  jobKey?: string;
  /** graphile-worker's job_key_mode: 'replace' (default) or 'preserve_run_at'. */
  jobKeyMode?: "replace" | "preserve_run_at";
  /** graphile-worker's default is 25 (exponential backoff, about three days in all). */
  maxAttempts?: number;
  runAt?: Date;
}

export interface EnqueuedJob {
  id: string;
}

/**
 * The add_job call itself, for a write that enqueues inside one SQL statement of its own (a single
 * round trip, see core/streams/cmaf-ingest.repository.ts); the same priority rule as enqueue().
 */
export function addJobCall(task: TaskId, payload: unknown, opts: EnqueueOptions = {}) {
  return addJobExpression({ ...opts, task, payload, priority: priorityOf(task) });
}

/**
 * The one way rter puts a job on the queue: the priority comes from the task's class, so no
 * producer can forget it. Pass a transaction to make the job part of the caller's write (no job
 * without its row, no row without its job).
 */
export async function enqueue(db: Kysely<any>, task: TaskId, payload: unknown, opts: EnqueueOptions = {}): Promise<EnqueuedJob> {
  if (!isTaskId(task)) throw new AppError("internal", `unknown task "${task}"`);
  if (opts.maxAttempts !== undefined && !(Number.isInteger(opts.maxAttempts) && opts.maxAttempts >= 1 && opts.maxAttempts <= 32_767)) {
    throw new AppError("internal", `maxAttempts must be 1..32767, got ${opts.maxAttempts}`);
  }
  const id = await timed("queue", () => addJob(db, { ...opts, task, payload, priority: priorityOf(task) }));
  return { id };
}
