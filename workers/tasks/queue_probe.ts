import type { Kysely } from "kysely";
import type { DB } from "../../core/db/schema.ts";
import { AppError } from "../../core/errors.ts";
import { MAX_HOLD_MS, recordProbeRun } from "../../core/queue/queue-probe.service.ts";

/**
 * Task id: queue_probe. Marks a probe as run by this worker; proves API -> queue -> worker ->
 * Postgres. `holdMs` makes the probe occupy a worker slot that long (abortable), so operators can
 * drill a drain: a SIGTERMed worker finishes it or hands it back to the queue.
 */
export interface QueueProbePayload {
  probeId: string;
  holdMs: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function parsePayload(p: unknown): QueueProbePayload {
  const { probeId, holdMs = 0 } = (p ?? {}) as { probeId?: unknown; holdMs?: unknown };
  if (typeof probeId !== "string" || !UUID.test(probeId)) throw new AppError("bad_request", "queue_probe payload needs a uuid probeId");
  if (typeof holdMs !== "number" || !Number.isInteger(holdMs) || holdMs < 0 || holdMs > MAX_HOLD_MS) {
    throw new AppError("bad_request", `queue_probe holdMs must be an integer from 0 to ${MAX_HOLD_MS}`);
  }
  return { probeId, holdMs };
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error("aborted: worker shutting down"));
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(timer), reject(new Error("aborted: worker shutting down"))), { once: true });
  });
}

export async function run(deps: { db: Kysely<DB>; nodeId: string }, payload: unknown, signal?: AbortSignal): Promise<void> {
  const { probeId, holdMs } = parsePayload(payload);
  if (holdMs > 0) await abortableSleep(holdMs, signal);
  await recordProbeRun(deps.db, probeId, deps.nodeId);
}
