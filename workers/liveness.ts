import { beat, removeHeartbeat, sweepDeadWorkers } from "../core/queue/liveness.repository.ts";
import type { DatabaseContext } from "../core/runtime.ts";
import { withTimeout } from "../core/util/timeout.ts";

const SWEEP_EVERY_MS = 2_000;

export interface Liveness {
  /** Beat now (a new queue pool exists and must be claimed before it locks anything old). */
  beatNow(): void;
  /** Stops beating and sweeping and deletes this worker's row: a clean stop is not a death. */
  stop(): Promise<void>;
}

/**
 * Dead workers must not stall live streams. Every worker writes a heartbeat row (its graphile-worker
 * pool ids and job class) every `heartbeatIntervalMs`, and every worker sweeps every ~2 s (jittered)
 * for rows silent longer than `deadAfterMs`, releasing their jobs to whoever polls next.
 *
 * A sweeper only judges others once its own beats have succeeded for a whole dead-after window:
 * after a Postgres outage every row is stale, and the first worker back must not declare the
 * others dead before they had the chance to beat again (their running jobs would run twice).
 */
export function startLiveness(rt: DatabaseContext, poolIds: () => string[]): Liveness {
  const { log, nodeId } = rt;
  const db = rt.database.db;
  const { heartbeatIntervalMs, deadAfterMs, jobs } = rt.config.worker;
  const sweepEveryMs = Math.min(SWEEP_EVERY_MS, deadAfterMs / 2);
  let healthySince: number | null = null;
  let beats = 0;
  let failures = 0;
  let stopped = false;
  let beatTimer: ReturnType<typeof setTimeout> | null = null;
  let sweepTimer: ReturnType<typeof setTimeout> | null = null;
  let inFlightBeat: Promise<void> | null = null;
  let inFlightSweep: Promise<void> | null = null;

  async function beatOnce(): Promise<void> {
    try {
      const { inserted } = await withTimeout(beat(db, nodeId, poolIds(), jobs), Math.max(2 * heartbeatIntervalMs, 2_000), "heartbeat not written");
      if (inserted && beats > 0) {
        log.warn("this worker had been declared dead and its jobs released; jobs it still runs may also run elsewhere");
      }
      if (failures > 0) log.info("heartbeat restored", { failedBeats: failures });
      beats++;
      failures = 0;
      healthySince ??= Date.now();
    } catch (e) {
      healthySince = null;
      if (failures++ % 10 === 0) log.warn("heartbeat failed", { err: (e as Error).message, failedBeats: failures });
    }
  }

  function runBeat(): Promise<void> {
    inFlightBeat ??= beatOnce().finally(() => (inFlightBeat = null));
    return inFlightBeat;
  }

  async function sweepOnce(): Promise<void> {
    if (healthySince === null || Date.now() - healthySince < deadAfterMs) return;
    try {
      const { released } = await sweepDeadWorkers(db, { me: nodeId, deadAfterMs });
      for (const r of released) {
        if (r.node) log.warn("released the jobs of a dead worker", { deadNode: r.node, lastSeen: r.lastSeen?.toISOString(), pools: r.pools, jobs: r.jobs });
        else log.warn("released jobs locked by a queue pool without a live worker", { pools: r.pools, jobs: r.jobs });
      }
    } catch (e) {
      log.warn("dead-worker sweep failed", { err: (e as Error).message });
    }
  }

  const scheduleBeat = () => {
    if (stopped) return;
    beatTimer = setTimeout(() => void runBeat().finally(scheduleBeat), heartbeatIntervalMs);
  };
  const scheduleSweep = () => {
    if (stopped) return;
    // Jitter: sweepers on many nodes spread out instead of contending for the lock in step.
    sweepTimer = setTimeout(
      () => {
        inFlightSweep = sweepOnce().finally(() => {
          inFlightSweep = null;
          scheduleSweep();
        });
      },
      sweepEveryMs * (0.75 + Math.random() * 0.5),
    );
  };

  void runBeat().finally(scheduleBeat);
  scheduleSweep();

  return {
    beatNow: () => void runBeat(),
    async stop() {
      stopped = true;
      if (beatTimer) clearTimeout(beatTimer);
      if (sweepTimer) clearTimeout(sweepTimer);
      await Promise.all([inFlightBeat, inFlightSweep]);
      await withTimeout(removeHeartbeat(db, nodeId), 5_000, "heartbeat row not removed").catch((e) =>
        log.warn("could not remove heartbeat row; other workers will sweep it", { err: (e as Error).message }),
      );
    },
  };
}
