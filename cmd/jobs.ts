import { listFailed, retryAllFailed, retryJob } from "../core/queue/jobs.service.ts";
import { withDatabase } from "./admin.ts";
import { parse, UsageError } from "./args.ts";

export const JOBS_HELP = `Usage: rter jobs list [--limit N] [--before ID]
       rter jobs retry ID | --all

The trouble queue: jobs that exhausted their attempts.
  list         permanently failed jobs, newest first: id, task, attempts, when, last error
  retry ID     run job ID again now, its attempts reset (exit 2 when there is no such job)
  retry --all  the same for every permanently failed job`;

/** One line per job: id, task, attempts/max, updated_at, first line of the last error. */
function line(j: { id: string; task: string; attempts: number; max_attempts: number; updated_at: string; last_error: string | null }): string {
  const err = (j.last_error ?? "").split("\n")[0]!.slice(0, 160);
  return `${j.id.padStart(8)}  ${j.task.padEnd(20)} ${`${j.attempts}/${j.max_attempts}`.padEnd(7)} ${j.updated_at}  ${err}`;
}

export async function jobs(args: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values, positionals } = parse(args, { all: { type: "boolean" }, limit: { type: "string" }, before: { type: "string" } });
  if (values.help) return (console.log(JOBS_HELP), 0);
  const [sub, ...rest] = positionals;
  if (sub === "list") {
    if (rest.length) throw new UsageError(`jobs list takes no arguments, got "${rest[0]}"`);
    const limit = values.limit === undefined ? 50 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new UsageError(`--limit must be 1 to 200, got "${values.limit}"`);
    const page = await withDatabase(values, env, (rt) => listFailed(rt.database.db, { limit, before: values.before as string | undefined }));
    if (!page.jobs.length) console.log("no failed jobs");
    for (const j of page.jobs) console.log(line(j));
    if (page.next_before) console.log(`more: rter jobs list --before ${page.next_before}`);
    return 0;
  }
  if (sub === "retry") {
    if (values.all) {
      if (rest.length) throw new UsageError("jobs retry takes either an ID or --all, not both");
      const { retried } = await withDatabase(values, env, (rt) => retryAllFailed(rt.database.db));
      console.log(`re-queued ${retried} failed job${retried === 1 ? "" : "s"}`);
      return 0;
    }
    if (rest.length !== 1) throw new UsageError("jobs retry needs one job ID or --all");
    const job = await withDatabase(values, env, (rt) => retryJob(rt.database.db, rest[0]!));
    console.log(`re-queued job ${job.id} (${job.task}), attempts reset`);
    return 0;
  }
  throw new UsageError(`unknown jobs subcommand "${positionals.join(" ")}" (expected: jobs list, jobs retry ID, jobs retry --all)`);
}
