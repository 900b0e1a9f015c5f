import { EventEmitter } from "node:events";
import { parseCronItems, run, type ParsedCronItem, type Runner, type WorkerEvents } from "graphile-worker";
import { quietQueueLogger } from "../core/db/migrate.ts";
import { AppError } from "../core/errors.ts";
import { FIXITY_QUEUE } from "../core/fixity/fixity.service.ts";
import { priorityOf } from "../core/queue/enqueue.ts";
import { forceUnlockPools } from "../core/queue/liveness.repository.ts";
import type { WorkerContext } from "../core/runtime.ts";
import { startLiveness } from "./liveness.ts";
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
 *
 * A worker killed outright cannot unlock anything, so every worker also heartbeats its pool ids
 * and sweeps for dead ones (workers/liveness.ts): their jobs go back to the queue within seconds.
 */
export async function startQueueWorker(rt: WorkerContext): Promise<QueueWorker> {
  const { config, log } = rt;
  const pool = rt.database.pool;
  let runner: Runner | null = null;
  let down: string | null = null;
  let stopping = false;
  let restartTimer: ReturnType<typeof setTimeout> | null = null;
  let restartDelay = RESTART_MIN_MS;
  const deadPools: string[] = [];
  let currentPool: string | null = null;
  // Until released, a failed runner's pool stays in the heartbeat: if this process dies now, the
  // sweepers release it together with the current one.
  const taskList = makeTaskList(rt);
  const cron = cronItems(rt, Object.keys(taskList));
  const liveness = startLiveness(rt, () => [...(currentPool ? [currentPool] : []), ...deadPools]);

  async function launch(): Promise<void> {
    const events: WorkerEvents = new EventEmitter();
    let poolId: string | null = null;
    events.on("pool:create", ({ workerPool }) => {
      poolId = currentPool = workerPool.id;
      liveness.beatNow();
    });
    events.on("job:error", ({ job, error }) =>
      log.warn("job failed", { task: job.task_identifier, jobId: job.id, attempt: job.attempts, err: (error as Error)?.message }),
    );
    events.on("job:success", ({ job }) => log.debug("job done", { task: job.task_identifier, jobId: job.id }));
    if (deadPools.length) {
      await forceUnlockPools(rt.database.db, deadPools);
      log.info("released jobs of a failed queue runner", { pools: [...deadPools] });
      deadPools.length = 0;
    }
    const r = await run({
      pgPool: pool,
      taskList,
      parsedCronItems: cron,
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
    if (currentPool === poolId) currentPool = null;
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

  try {
    await launch();
  } catch (e) {
    await liveness.stop();
    throw e;
  }
  log.info("queue worker started", {
    concurrency: config.worker.concurrency,
    jobs: config.worker.jobs,
    tasks: Object.keys(taskList),
    fixitySchedule: cron.some((c) => c.task === "fixity_check") ? config.fixity.schedule : "off",
    retentionSchedule: cron.some((c) => c.task === "retention_sweep") ? config.retention.schedule : "off",
  });

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
      if (r) {
        const graceful = r.stop().then(
          () => true,
          () => true,
        );
        const timedOut = Bun.sleep(config.worker.shutdownGraceMs + ABORT_SETTLE_MS).then(() => false);
        if (!(await Promise.race([graceful, timedOut]))) {
          log.warn("jobs ignored the abort signal; failing them so another worker retries");
          await r.kill().catch((e) => log.error("forceful shutdown failed", { err: (e as Error).message }));
        }
      }
      // Only now: while jobs were finishing, the heartbeat kept other workers from taking them.
      await liveness.stop();
    },
  };
}

/**
 * The crontab of this worker: the fixity check (`--fixity-schedule`), the retention job
 * (`--retention-schedule`), shipping the audit chain's head (`--audit-head-schedule`) and, every minute, finishing silent streams (`--stream-idle-finish`),
 * on workers that run batch jobs. Every worker with them schedules, and
 * graphile-worker's known_crontabs table lets exactly one of them enqueue each occurrence. A job
 * key keeps missed occurrences from piling up.
 */
function cronItems(rt: WorkerContext, tasks: string[]): ParsedCronItem[] {
  const items = [];
  const schedule = rt.config.fixity.schedule;
  if (schedule && tasks.includes("fixity_check")) {
    items.push({
      task: "fixity_check",
      match: schedule,
      identifier: "rter_fixity_check",
      payload: { trigger: "schedule" },
      options: {
        backfillPeriod: 0,
        queueName: FIXITY_QUEUE,
        priority: priorityOf("fixity_check"),
        jobKey: "fixity_check:schedule",
        jobKeyMode: "preserve_run_at" as const,
      },
    });
  }
  const retention = rt.config.retention.schedule;
  if (retention && tasks.includes("retention_sweep")) {
    items.push({
      task: "retention_sweep",
      match: retention,
      identifier: "rter_retention_sweep",
      payload: {},
      options: { backfillPeriod: 0, priority: priorityOf("retention_sweep"), jobKey: "retention_sweep:schedule", jobKeyMode: "preserve_run_at" as const },
    });
  }
  const head = rt.config.audit.headSchedule;
  if (head && tasks.includes("audit_head")) {
    items.push({
      task: "audit_head",
      match: head,
      identifier: "rter_audit_head",
      payload: {},
      options: { backfillPeriod: 0, priority: priorityOf("audit_head"), jobKey: "audit_head:schedule", jobKeyMode: "preserve_run_at" as const },
    });
  }
  const idle = rt.config.ingest.idleFinishMs;
  if (idle !== null && tasks.includes("finish_idle_streams")) {
    items.push({
      task: "finish_idle_streams",
      match: "* * * * *",
      identifier: "rter_finish_idle_streams",
      payload: {},
      options: {
        backfillPeriod: 0,
        priority: priorityOf("finish_idle_streams"),
        jobKey: "finish_idle_streams:schedule",
        jobKeyMode: "preserve_run_at" as const,
      },
    });
  }
  return items.length ? parseCronItems(items) : [];
}
