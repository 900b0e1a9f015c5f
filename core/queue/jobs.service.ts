import type { Kysely } from "kysely";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { timed } from "../perf.ts";
import { findJob, listFailedJobs, rescheduleNow, type JobRow } from "./jobs.repository.ts";

const INT8_MAX = 9_223_372_036_854_775_807n;

/** A job id from a URL or the CLI: a positive int8 in plain digits, else 400. */
export function parseJobId(raw: string): string {
  if (!/^[1-9][0-9]{0,18}$/.test(raw) || BigInt(raw) > INT8_MAX) throw new AppError("bad_request", `not a job id: "${raw.slice(0, 40)}"`);
  return raw;
}

/** A job as the API and CLI show it: the row with times as ISO strings, without its lock. */
export type JobView = Omit<JobRow, "locked_at" | "run_at" | "created_at" | "updated_at"> & { run_at: string; created_at: string; updated_at: string };

function view(r: JobRow): JobView {
  const iso = (d: Date) => new Date(d).toISOString();
  const { locked_at: _, ...rest } = r;
  return { ...rest, run_at: iso(r.run_at), created_at: iso(r.created_at), updated_at: iso(r.updated_at) };
}

/** The trouble queue, newest first; `before` is the last id of the previous page. */
export async function listFailed(db: Kysely<DB>, opts: { limit?: number; before?: string } = {}): Promise<{ jobs: JobView[]; next_before: string | null }> {
  const limit = opts.limit ?? 50;
  const before = opts.before === undefined ? undefined : parseJobId(opts.before);
  const rows = await timed("queue", () => listFailedJobs(db, { limit, before }));
  return { jobs: rows.map(view), next_before: rows.length === limit ? rows.at(-1)!.id : null };
}

/** Runs a job again now with its attempts reset: 404 when unknown, 409 while it is running. */
export async function retryJob(db: Kysely<DB>, rawId: string): Promise<JobView> {
  const id = parseJobId(rawId);
  const [row] = await timed("queue", () => rescheduleNow(db, [id]));
  if (row) return view(row);
  if (!(await findJob(db, id))) throw new AppError("not_found", `no job ${id}`);
  throw new AppError("conflict", `job ${id} is running; retry it once it has failed`);
}

/** Every permanently failed job, due now with attempts reset. */
export async function retryAllFailed(db: Kysely<DB>): Promise<{ retried: number }> {
  const ids = await timed("queue", () => rescheduleNow(db, "all-failed"));
  return { retried: ids.length };
}
