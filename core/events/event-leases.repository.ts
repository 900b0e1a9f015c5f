import { sql, type Kysely } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries over event_leases (migration 0012), `db` first, no rules. */

/**
 * Takes a lease for `userId` unless they already hold `max` live ones (renewed within
 * `staleSeconds`). One transaction on one connection: a per-user advisory lock orders
 * concurrent opens, so two of them cannot both see room for one. Returns false when full.
 */
export function takeLease(db: Kysely<DB>, lease: { id: string; userId: string; nodeId: string }, max: number, staleSeconds: number): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtextextended(${`rter_event_leases:${lease.userId}`}, 0))`.execute(trx);
    await trx
      .deleteFrom("event_leases")
      .where("user_id", "=", lease.userId)
      .where("renewed_at", "<", sql<Date>`now() - make_interval(secs => ${staleSeconds}::int)`)
      .execute();
    const { n } = await trx
      .selectFrom("event_leases")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("user_id", "=", lease.userId)
      .executeTakeFirstOrThrow();
    if (Number(n) >= max) return false;
    await trx.insertInto("event_leases").values({ id: lease.id, user_id: lease.userId, node_id: lease.nodeId }).execute();
    return true;
  });
}

export function dropLeases(db: Kysely<DB>, ids: readonly string[]) {
  return db
    .deleteFrom("event_leases")
    .where("id", "=", sql<string>`any(${[...ids]}::uuid[])`)
    .execute();
}

export function renewLeases(db: Kysely<DB>, ids: readonly string[]) {
  return db
    .updateTable("event_leases")
    .set({ renewed_at: sql`now()` })
    .where("id", "=", sql<string>`any(${[...ids]}::uuid[])`)
    .execute();
}

/** Leases of nodes that stopped renewing them (crashed) for a day: the retention job drops them. */
export async function pruneStaleLeases(db: Kysely<DB>): Promise<number> {
  const r = await db.deleteFrom("event_leases").where("renewed_at", "<", sql<Date>`now() - interval '1 day'`).executeTakeFirst();
  return Number(r.numDeletedRows ?? 0);
}
