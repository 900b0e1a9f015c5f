import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import type { Database } from "../db/kysely.ts";
import { isAppError } from "../errors.ts";
import { migratedDatabase } from "../../test/support/db.ts";
import { RateLimiter } from "./ratelimit.ts";

let database: Database;
const db = () => database.db;
const hitsOf = async (key: string) => Number((await sql<{ hits: number }>`select hits from rate_counters where key = ${key}`.execute(db())).rows[0]?.hits ?? 0);

beforeAll(async () => {
  database = await migratedDatabase("ratelimit-test");
});
afterAll(async () => {
  await database?.close();
});

describe("RateLimiter.enforceAll: several buckets of one request", () => {
  test("one statement counts each bucket once; concurrent requests on the same buckets stay exact", async () => {
    const limiter = new RateLimiter();
    const k = crypto.randomUUID();
    const token = { policyName: "token", key: `t:${k}`, policy: { limit: 1000, windowSeconds: 60 } };
    const user = { policyName: "user", key: `u:${k}`, policy: { limit: 1000, windowSeconds: 60 } };
    await limiter.enforceAll(db(), [token, user]);
    expect([await hitsOf(token.key), await hitsOf(user.key)]).toEqual([1, 1]);
    // 50 at once: the first goes as one statement, the rest batch behind it per bucket.
    await Promise.all(Array.from({ length: 50 }, () => limiter.enforceAll(db(), [token, user])));
    expect([await hitsOf(token.key), await hitsOf(user.key)]).toEqual([51, 51]);
    // And with plain enforce() calls of another request mixed in.
    await Promise.all([
      ...Array.from({ length: 10 }, () => limiter.enforceAll(db(), [token, user])),
      ...Array.from({ length: 10 }, () => limiter.enforce(db(), "user", user.key, user.policy)),
    ]);
    expect([await hitsOf(token.key), await hitsOf(user.key)]).toEqual([61, 71]);
  });

  test("the first bucket over its limit answers 429 (both counted); a remembered refusal costs no query", async () => {
    const limiter = new RateLimiter();
    const k = crypto.randomUUID();
    const token = { policyName: "token", key: `t:${k}`, policy: { limit: 100, windowSeconds: 60 } };
    const user = { policyName: "user", key: `u:${k}`, policy: { limit: 3, windowSeconds: 60 }, what: "user requests" };
    for (let i = 0; i < 3; i++) await limiter.enforceAll(db(), [token, user]);
    const refused = await limiter.enforceAll(db(), [token, user]).then(
      () => null,
      (e) => e,
    );
    expect(isAppError(refused) && refused.code).toBe("rate_limited");
    expect((refused as Error).message).toMatch(/too many user requests: 3 per 60 s/);
    expect([await hitsOf(token.key), await hitsOf(user.key)]).toEqual([4, 4]);
    // Remembered on this node: refused again without counting anything.
    await expect(limiter.enforceAll(db(), [token, user])).rejects.toThrow(/too many user requests/);
    expect([await hitsOf(token.key), await hitsOf(user.key)]).toEqual([5, 4]);
  });

  test("buckets with different windows each get their own window and reset", async () => {
    const limiter = new RateLimiter();
    const k = crypto.randomUUID();
    await limiter.enforceAll(db(), [
      { policyName: "token", key: `t:${k}`, policy: { limit: 10, windowSeconds: 60 } },
      { policyName: "items", key: `qi:${k}`, policy: { limit: 10, windowSeconds: 3600 } },
    ]);
    const rows = (
      await sql<{
        key: string;
        w: number;
      }>`select key, extract(epoch from window_start)::int % 3600 as w from rate_counters where key in (${`t:${k}`}, ${`qi:${k}`})`.execute(db())
    ).rows;
    expect(rows.find((r) => r.key === `qi:${k}`)!.w).toBe(0);
  });

  test("a bucket named twice falls back to counting one by one", async () => {
    const limiter = new RateLimiter();
    const b = { policyName: "token", key: `t:${crypto.randomUUID()}`, policy: { limit: 10, windowSeconds: 60 } };
    await limiter.enforceAll(db(), [b, b]);
    expect(await hitsOf(b.key)).toBe(2);
  });
});
