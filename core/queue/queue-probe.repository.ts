import type { Kysely, Transaction } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries for queue probes: `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

export function insertProbe(db: Db) {
  return db.insertInto("queue_probes").defaultValues().returningAll().executeTakeFirstOrThrow();
}

export function findProbe(db: Db, id: string) {
  return db.selectFrom("queue_probes").selectAll().where("id", "=", id).executeTakeFirst();
}

/** A worker ran the probe: counted, with the time and the worker's node id. */
export async function markProbeRan(db: Db, id: string, workerId: string): Promise<void> {
  await db
    .updateTable("queue_probes")
    .set((eb) => ({ ran_at: new Date(), run_count: eb("run_count", "+", 1), worker_id: workerId }))
    .where("id", "=", id)
    .execute();
}
