import type { Kysely } from "kysely";
import type { DB } from "../db/schema.ts";
import { enqueue } from "./enqueue.ts";
import { findProbe, insertProbe, markProbeRan } from "./queue-probe.repository.ts";

/** Longest a probe may occupy a worker slot (drain drills). */
export const MAX_HOLD_MS = 60_000;

export interface ProbeView {
  id: string;
  enqueued_at: string;
  ran_at: string | null;
  run_count: number;
  worker_id: string | null;
}

function view(r: { id: string; enqueued_at: Date; ran_at: Date | null; run_count: number; worker_id: string | null }): ProbeView {
  return {
    id: r.id,
    enqueued_at: r.enqueued_at.toISOString(),
    ran_at: r.ran_at ? new Date(r.ran_at).toISOString() : null,
    run_count: r.run_count,
    worker_id: r.worker_id,
  };
}

/** The probe row and its job are written in one transaction: no job without a row, no row without a job. */
export async function enqueueProbe(db: Kysely<DB>, holdMs = 0): Promise<ProbeView> {
  return db.transaction().execute(async (trx) => {
    const row = await insertProbe(trx);
    await enqueue(trx, "queue_probe", { probeId: row.id, holdMs });
    return view(row);
  });
}

export async function getProbe(db: Kysely<DB>, id: string): Promise<ProbeView | null> {
  const r = await findProbe(db, id);
  return r ? view(r) : null;
}

/** The worker's side: this node ran the probe. */
export function recordProbeRun(db: Kysely<DB>, id: string, nodeId: string): Promise<void> {
  return markProbeRan(db, id, nodeId);
}
