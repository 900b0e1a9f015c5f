import { EventEmitter } from "node:events";
import { run, type Runner, type WorkerEvents } from "graphile-worker";
import { quietQueueLogger } from "../core/db/migrate.ts";
import { AppError } from "../core/errors.ts";
import type { Runtime } from "../core/runtime.ts";
import { makeTaskList } from "./tasks/index.ts";

/** Time between the abort signal and a forceful shutdown: for tasks to record their failure. */
const ABORT_SETTLE_MS = 5_000;
const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 10_000;

export interface QueueWorker {
  stop(): Promise<void>;
  assertRunning(): void;
}

/**
 * graphile-worker inside the worker role, on the process's shared pool, under a supervisor.
 * graphile-worker ends its pool for good when it cannot record a job's result (e.g. Postgres
 * restarting), so the supervisor starts a new runner with backoff, and first unlocks the jobs the
 * dead pool still held — otherwise they would wait out graphile-worker's 4-hour stale-lock window.
 * Signals are ours (cmd/serve) so HTTP and jobs shut down in one orderly sequence.
 */
export async function startQueueWorker(rt: Runtime): Promise<QueueWorker> {
  const { config, log } = rt;
  const pool = rt.database!.pool;
  let runner: Runner | null = null;
  let down: string | null = null;
  let stopping = false;
  let restartTimer: ReturnType<typeof setTimeout> | null = null;
  let restartDelay = RESTART_MIN_MS;
  const deadPools: string[] = [];

  async function launch(): Promise<void> {
    const events: WorkerEvents = new EventEmitter();
    let poolId: string | null = null;
    events.on("pool:create", ({ workerPool }) => (poolId = workerPool.id));
    events.on("job:error", ({ job, error }) =>
      log.warn("job failed", { task: job.task_identifier, jobId: job.id, attempt: job.attempts, err: (error as Error)?.message }),
    );
    events.on("job:success", ({ job }) => log.debug("job done", { task: job.task_identifier, jobId: job.id }));
    if (deadPools.length) {
      await pool.query("select graphile_worker.force_unlock_workers($1::text[])", [deadPools]);
      log.info("released jobs of a failed queue runner", { pools: [...deadPools] });
      deadPools.length = 0;
    }
    const r = await run({
      pgPool: pool,
      taskList: makeTaskList(rt),
      concurrency: config.worker.concurrency,
      noHandleSignals: true,
      pollInterval: 1_000,
      logger: quietQueueLogger(log),
      events,
      gracefulShutdownAbortTimeout: config.worker.shutdownGraceMs,
      // Unbatched, graphile-worker fires completeJob/failJob without awaiting them, so a job
      // finishing during shutdown could stay locked after we close the pool. The batcher (even
      // with no delay) is flushed by the pool's own shutdown before stop() resolves.
      preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    });
    runner = r;
    down = null;
    restartDelay = RESTART_MIN_MS;
    r.promise.then(
      () => exited(r, poolId, "runner stopped"),
      (e) => exited(r, poolId, (e as Error)?.message ?? String(e)),
    );
  }

  function exited(r: Runner, poolId: string | null, reason: string): void {
    if (stopping || runner !== r) return;
    runner = null;
    down = reason;
    if (poolId) deadPools.push(poolId);
    log.error("queue runner exited; restarting", { reason, inMs: restartDelay });
    scheduleRestart();
  }

  function scheduleRestart(): void {
    restartTimer = setTimeout(() => {
      restartTimer = null;
      if (stopping) return;
      launch().catch((e) => {
        down = (e as Error).message;
        restartDelay = Math.min(restartDelay * 2, RESTART_MAX_MS);
        log.warn("queue runner restart failed", { err: down, retryInMs: restartDelay });
        scheduleRestart();
      });
    }, restartDelay);
  }

  await launch();
  log.info("queue worker started", { concurrency: config.worker.concurrency });

  return {
    assertRunning() {
      if (!runner) throw new AppError("unavailable", `queue worker restarting: ${down ?? "starting"}`);
    },
    /**
     * Stop taking jobs and let running ones finish within the grace period. At its end the jobs'
     * abort signal fires: tasks that honour it fail fast and graphile-worker records the failure,
     * which schedules a retry that another worker picks up. A task that ignores the signal gets a
     * little longer, then a forceful shutdown fails it in the database all the same. Either way
     * nothing stays locked for graphile-worker's 4-hour stale-lock window.
     */
    async stop() {
      stopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      const r = runner;
      if (!r) return;
      const graceful = r.stop().then(() => true, () => true);
      const timedOut = Bun.sleep(config.worker.shutdownGraceMs + ABORT_SETTLE_MS).then(() => false);
      if (!(await Promise.race([graceful, timedOut]))) {
        log.warn("jobs ignored the abort signal; failing them so another worker retries");
        await r.kill().catch((e) => log.error("forceful shutdown failed", { err: (e as Error).message }));
      }
    },
  };
}
