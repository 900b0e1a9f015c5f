import type { Kysely } from "kysely";
import { sql } from "kysely";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";

export interface StoredResponse {
  status: number;
  body: unknown;
}

/** An abandoned in-flight key (its node died) may be taken over after this long. */
const IN_FLIGHT_TAKEOVER_MS = 60_000;
const KEY = /^[\x21-\x7e]{1,200}$/;

export function checkIdempotencyKey(key: string | null): string | null {
  if (key === null) return null;
  if (!KEY.test(key)) throw new AppError("bad_request", "Idempotency-Key must be 1 to 200 visible ASCII characters");
  return key;
}

function requestHash(body: unknown): string {
  return new Bun.CryptoHasher("sha256").update(JSON.stringify(body ?? null)).digest("hex");
}

/**
 * IETF idempotency-key semantics for creating calls: the first request's outcome is stored and
 * replayed to retries; the same key with a different body is 422; while the first is still in
 * flight, 409. The in-flight marker is committed on its own so other nodes see it at once.
 */
export async function withIdempotency(
  db: Kysely<DB>,
  ctx: { userId: string; scope: string; key: string | null; body: unknown },
  fn: () => Promise<StoredResponse>,
): Promise<StoredResponse & { replayed: boolean }> {
  if (!ctx.key) return { ...(await fn()), replayed: false };
  const hash = requestHash(ctx.body);
  const claimed = await db
    .insertInto("idempotency_keys")
    .values({ user_id: ctx.userId, scope: ctx.scope, key: ctx.key, request_hash: hash, state: "in_flight" })
    .onConflict((oc) =>
      oc.columns(["user_id", "scope", "key"]).doUpdateSet({ created_at: sql`now()`, request_hash: hash }).where((eb) =>
        eb.and([eb("idempotency_keys.state", "=", "in_flight"), eb("idempotency_keys.created_at", "<", new Date(Date.now() - IN_FLIGHT_TAKEOVER_MS))]),
      ),
    )
    .returning("key")
    .executeTakeFirst();
  if (!claimed) {
    const row = await db.selectFrom("idempotency_keys").selectAll().where("user_id", "=", ctx.userId).where("scope", "=", ctx.scope).where("key", "=", ctx.key).executeTakeFirstOrThrow();
    if (row.request_hash !== hash) throw new AppError("unprocessable", "this Idempotency-Key was used with a different request body");
    if (row.state === "in_flight") throw new AppError("conflict", "a request with this Idempotency-Key is still in progress", { retryAfterSeconds: 1 });
    return { status: row.status!, body: row.response, replayed: true };
  }
  let result: StoredResponse;
  try {
    result = await fn();
  } catch (e) {
    // Failed requests are not remembered: the client may retry the same key.
    await db.deleteFrom("idempotency_keys").where("user_id", "=", ctx.userId).where("scope", "=", ctx.scope).where("key", "=", ctx.key).execute().catch(() => {});
    throw e;
  }
  await db
    .updateTable("idempotency_keys")
    .set({ state: "done", status: result.status, response: JSON.stringify(result.body) })
    .where("user_id", "=", ctx.userId)
    .where("scope", "=", ctx.scope)
    .where("key", "=", ctx.key)
    .execute();
  return { ...result, replayed: false };
}
