import { run, type Runner } from "graphile-worker";
import { quietQueueLogger } from "../core/db/migrate.ts";
import { AppError } from "../core/errors.ts";
import type { Runtime } from "../core/runtime.ts";
import { makeTaskList } from "./tasks/index.ts";

/** Time between the abort signal and a forceful shutdown: for tasks to record their failure. */
const ABORT_SETTLE_MS = 5_000;

export interface QueueWorker {
  stop(): Promise<void>;
  assertRunning(): void;
}

/**
 * graphile-worker inside the worker role, on the process's shared pool. We handle signals
 * ourselves (cmd/serve) so HTTP and jobs shut down in one orderly sequence.
 */
export async function startQueueWorker(rt: Runtime): Promise<QueueWorker> {
  const { config, log } = rt;
  let exited: Error | null = null;
  const runner: Runner = await run({
    pgPool: rt.database!.pool,
    taskList: makeTaskList(rt),
    concurrency: config.worker.concurrency,
    noHandleSignals: true,
    pollInterval: 1_000,
    logger: quietQueueLogger(log),
    gracefulShutdownAbortTimeout: config.worker.shutdownGraceMs,
    // Unbatched, graphile-worker fires completeJob/failJob without awaiting them, so a job
    // finishing during shutdown could stay locked after we close the pool. The batcher (even
    // with no delay) is flushed by the pool's own shutdown before stop() resolves.
    preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
  });
  runner.events?.on("job:error", ({ job, error }) =>
    log.warn("job failed", { task: job.task_identifier, jobId: job.id, attempt: job.attempts, err: (error as Error)?.message }),
  );
  runner.events?.on("job:success", ({ job }) => log.debug("job done", { task: job.task_identifier, jobId: job.id }));
  runner.promise.catch((e) => {
    exited = e as Error;
    log.error("queue worker stopped unexpectedly", { err: exited.message });
  });
  log.info("queue worker started", { concurrency: config.worker.concurrency });

  return {
    assertRunning() {
      if (exited) throw new AppError("unavailable", `queue worker stopped: ${exited.message}`);
    },
    /**
     * Stop taking jobs and let running ones finish within the grace period. At its end the jobs'
     * abort signal fires: tasks that honour it fail fast and graphile-worker records the failure,
     * which schedules a retry that another worker picks up. A task that ignores the signal gets a
     * little longer, then a forceful shutdown fails it in the database all the same. Either way
     * nothing stays locked for graphile-worker's 4-hour stale-lock window.
     */
    async stop() {
      const graceful = runner.stop().then(() => true, () => true);
      const timedOut = Bun.sleep(config.worker.shutdownGraceMs + ABORT_SETTLE_MS).then(() => false);
      if (!(await Promise.race([graceful, timedOut]))) {
        log.warn("jobs ignored the abort signal; failing them so another worker retries");
        await runner.kill().catch((e) => log.error("forceful shutdown failed", { err: (e as Error).message }));
      }
    },
  };
}
