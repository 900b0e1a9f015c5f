import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries for idempotency keys: `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

/** A key as (user, scope, key): the same key may be reused by another user or on another route. */
export interface KeyRef {
  userId: string;
  scope: string;
  key: string;
}

/**
 * Marks the key in flight for this request, or takes it over when an earlier claim stayed in
 * flight since before `staleBefore` (its node died). Undefined when the key is held: done, or
 * in flight and fresh.
 */
export function claimKey(db: Db, ref: KeyRef, requestHash: string, staleBefore: Date) {
  return db
    .insertInto("idempotency_keys")
    .values({ user_id: ref.userId, scope: ref.scope, key: ref.key, request_hash: requestHash, state: "in_flight" })
    .onConflict((oc) =>
      oc
        .columns(["user_id", "scope", "key"])
        .doUpdateSet({ created_at: sql`now()`, request_hash: requestHash })
        .where((eb) => eb.and([eb("idempotency_keys.state", "=", "in_flight"), eb("idempotency_keys.created_at", "<", staleBefore)])),
    )
    .returning("key")
    .executeTakeFirst();
}

/** The key's row; throws (NoResultError) when it is gone. */
export function getKey(db: Db, ref: KeyRef) {
  return db
    .selectFrom("idempotency_keys")
    .selectAll()
    .where("user_id", "=", ref.userId)
    .where("scope", "=", ref.scope)
    .where("key", "=", ref.key)
    .executeTakeFirstOrThrow();
}

export async function deleteKey(db: Db, ref: KeyRef): Promise<void> {
  await db.deleteFrom("idempotency_keys").where("user_id", "=", ref.userId).where("scope", "=", ref.scope).where("key", "=", ref.key).execute();
}

/** Stores the first request's outcome, replayed to retries of the same key. */
export async function completeKey(db: Db, ref: KeyRef, status: number, response: unknown): Promise<void> {
  await db
    .updateTable("idempotency_keys")
    .set({ state: "done", status, response: JSON.stringify(response) })
    .where("user_id", "=", ref.userId)
    .where("scope", "=", ref.scope)
    .where("key", "=", ref.key)
    .execute();
}
