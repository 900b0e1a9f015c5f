import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import type { Database } from "../db/kysely.ts";
import { migratedDatabase, makeUser, codeOf } from "../../test/support/db.ts";
import { checkIdempotencyKey, withIdempotency } from "./idempotency.service.ts";

let database: Database;
let alice: string;
let bob: string;
beforeAll(async () => {
  database = await migratedDatabase("idempotency-test");
  alice = (await makeUser(database, "alice@city.example", "reporter")).id;
  bob = (await makeUser(database, "bob@city.example", "reporter")).id;
}, 60_000);
afterAll(() => database?.close());

/** A creating call that counts how often it really ran. */
function creator(status = 201) {
  let runs = 0;
  return {
    get runs() {
      return runs;
    },
    fn: async () => ({ status, body: { n: ++runs } }),
  };
}

describe("checkIdempotencyKey", () => {
  test("1 to 200 visible ASCII characters, or no key", () => {
    expect(checkIdempotencyKey(null)).toBeNull();
    expect(checkIdempotencyKey("a")).toBe("a");
    expect(checkIdempotencyKey("~".repeat(200))).toBe("~".repeat(200));
    for (const bad of ["", " ", "a b", "x".repeat(201), "é", "tab\t"]) expect(() => checkIdempotencyKey(bad)).toThrow(/Idempotency-Key/);
  });
});

describe("withIdempotency", () => {
  test("without a key every call runs", async () => {
    const c = creator();
    for (let i = 0; i < 2; i++) expect((await withIdempotency(database.db, { userId: alice, scope: "s", key: null, body: {} }, c.fn)).replayed).toBe(false);
    expect(c.runs).toBe(2);
  });

  test("a retry with the same body replays the first outcome without running again", async () => {
    const c = creator();
    const ctx = { userId: alice, scope: "streams.create", key: "k-replay", body: { title: "x" } };
    expect(await withIdempotency(database.db, ctx, c.fn)).toEqual({ status: 201, body: { n: 1 }, replayed: false });
    expect(await withIdempotency(database.db, ctx, c.fn)).toEqual({ status: 201, body: { n: 1 }, replayed: true });
    expect(c.runs).toBe(1);
  });

  test("the same key with another body is refused (unprocessable)", async () => {
    const c = creator();
    await withIdempotency(database.db, { userId: alice, scope: "s", key: "k-body", body: { a: 1 } }, c.fn);
    expect(await codeOf(withIdempotency(database.db, { userId: alice, scope: "s", key: "k-body", body: { a: 2 } }, c.fn))).toBe("unprocessable");
    expect(c.runs).toBe(1);
  });

  test("keys are per user and per scope", async () => {
    const c = creator();
    await withIdempotency(database.db, { userId: alice, scope: "s1", key: "k-shared", body: {} }, c.fn);
    expect((await withIdempotency(database.db, { userId: bob, scope: "s1", key: "k-shared", body: {} }, c.fn)).replayed).toBe(false);
    expect((await withIdempotency(database.db, { userId: alice, scope: "s2", key: "k-shared", body: {} }, c.fn)).replayed).toBe(false);
    expect(c.runs).toBe(3);
  });

  test("while the first request is in flight a retry is a conflict", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const ctx = { userId: alice, scope: "s", key: "k-flight", body: {} };
    const first = withIdempotency(database.db, ctx, async () => {
      entered();
      await gate;
      return { status: 201, body: { first: true } };
    });
    await inside;
    expect(await codeOf(withIdempotency(database.db, ctx, creator().fn))).toBe("conflict");
    release();
    expect((await first).replayed).toBe(false);
    expect(await withIdempotency(database.db, ctx, creator().fn)).toEqual({ status: 201, body: { first: true }, replayed: true });
  });

  test("a failed request is forgotten: the same key runs again", async () => {
    const ctx = { userId: alice, scope: "s", key: "k-fail", body: {} };
    expect(await codeOf(withIdempotency(database.db, ctx, async () => Promise.reject(Object.assign(new Error("boom"), { code: "boom" }))))).toBe("boom");
    const c = creator();
    expect((await withIdempotency(database.db, ctx, c.fn)).replayed).toBe(false);
    expect(c.runs).toBe(1);
  });

  test("an in-flight key abandoned for over a minute (its node died) is taken over", async () => {
    const hash = new Bun.CryptoHasher("sha256").update(JSON.stringify({})).digest("hex");
    await sql`insert into idempotency_keys (user_id, scope, key, request_hash, state, created_at)
              values (${alice}, 's', 'k-stale', ${hash}, 'in_flight', now() - interval '2 minutes')`.execute(database.db);
    const c = creator();
    expect(await withIdempotency(database.db, { userId: alice, scope: "s", key: "k-stale", body: {} }, c.fn)).toEqual({
      status: 201,
      body: { n: 1 },
      replayed: false,
    });
    // A fresh in-flight key is not taken over.
    await sql`insert into idempotency_keys (user_id, scope, key, request_hash, state) values (${alice}, 's', 'k-fresh', ${hash}, 'in_flight')`.execute(
      database.db,
    );
    expect(await codeOf(withIdempotency(database.db, { userId: alice, scope: "s", key: "k-fresh", body: {} }, c.fn))).toBe("conflict");
  });
});
