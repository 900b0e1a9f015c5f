import type { Kysely } from "kysely";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { claimKey, completeKey, deleteKey, getKey, type KeyRef } from "./idempotency.repository.ts";

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
  const ref: KeyRef = { userId: ctx.userId, scope: ctx.scope, key: ctx.key };
  const claimed = await claimKey(db, ref, hash, new Date(Date.now() - IN_FLIGHT_TAKEOVER_MS));
  if (!claimed) {
    const row = await getKey(db, ref);
    if (row.request_hash !== hash) throw new AppError("unprocessable", "this Idempotency-Key was used with a different request body");
    if (row.state === "in_flight") throw new AppError("conflict", "a request with this Idempotency-Key is still in progress", { retryAfterSeconds: 1 });
    return { status: row.status!, body: row.response, replayed: true };
  }
  let result: StoredResponse;
  try {
    result = await fn();
  } catch (e) {
    // Failed requests are not remembered: the client may retry the same key.
    await deleteKey(db, ref).catch(() => {});
    throw e;
  }
  await completeKey(db, ref, result.status, result.body);
  return { ...result, replayed: false };
}
