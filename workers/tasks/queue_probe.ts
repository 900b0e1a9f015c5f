import type { Kysely } from "kysely";
import type { DB } from "../../core/db/schema.ts";
import { AppError } from "../../core/errors.ts";

/** Task id: queue_probe. Marks a probe as run by this worker; proves API -> queue -> worker -> Postgres. */
export interface QueueProbePayload {
  probeId: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function parsePayload(p: unknown): QueueProbePayload {
  const probeId = (p as { probeId?: unknown } | null)?.probeId;
  if (typeof probeId !== "string" || !UUID.test(probeId)) throw new AppError("bad_request", "queue_probe payload needs a uuid probeId");
  return { probeId };
}

export async function run(deps: { db: Kysely<DB>; nodeId: string }, payload: unknown): Promise<void> {
  const { probeId } = parsePayload(payload);
  await deps.db
    .updateTable("queue_probes")
    .set((eb) => ({ ran_at: new Date(), run_count: eb("run_count", "+", 1), worker_id: deps.nodeId }))
    .where("id", "=", probeId)
    .execute();
}
