import { run, type Runner } from "graphile-worker";
import { quietQueueLogger } from "../core/db/migrate.ts";
import { AppError } from "../core/errors.ts";
import type { Runtime } from "../core/runtime.ts";
import { makeTaskList } from "./tasks/index.ts";

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
     * Stop taking jobs and let running ones finish within the grace period; past it, release
     * them (forceful shutdown fails them with a retry, so another worker picks them up).
     */
    async stop() {
      const graceful = runner.stop().then(() => true, () => true);
      const timedOut = Bun.sleep(config.worker.shutdownGraceMs).then(() => false);
      if (!(await Promise.race([graceful, timedOut]))) {
        log.warn("jobs still running after grace period; releasing them");
        await runner.kill().catch(() => {});
      }
    },
  };
}
