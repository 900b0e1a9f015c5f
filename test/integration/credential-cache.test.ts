import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { addUser, createToken } from "../../core/auth/auth.service.ts";
import { CredentialCache } from "../../core/auth/credential-cache.ts";
import { json, startTestApp, type TestApp } from "../support/app.ts";
import { testDatabaseUrl } from "../support/postgres.ts";

// The API node's short memory of credential rows (core/auth/credential-cache.ts): it saves a
// read per request, and a credential that ends stops working as soon as the database's notice
// arrives — at once for a change made through this node, within the notice's delivery for one
// made elsewhere (here: SQL straight into the database, as another node or the CLI would).
let app: TestApp;
let other: TestApp;
const PASSWORD = "long enough pw";
const db = () => app.api!.database.db;
const auth = (t: string) => ({ authorization: `Bearer ${t}` });
const list = (t: string, on = app) => on.request("/api/v1/streams", { headers: auth(t) });

/** The first status other than 200 within a bounded wait, and how long it took. */
async function endsWithin(t: string, maxMs: number, on = app): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  for (;;) {
    const r = await list(t, on);
    if (r.status !== 200 || performance.now() - t0 > maxMs) return { status: r.status, ms: performance.now() - t0 };
    await Bun.sleep(5);
  }
}

beforeAll(async () => {
  const url = await testDatabaseUrl();
  [app, other] = await Promise.all([startTestApp({ "database-url": url, roles: "api" }), startTestApp({ "database-url": url, roles: "api" })]);
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await other?.stop();
});

describe("the credential cache", () => {
  test("a used token is remembered by its node; revoked elsewhere, it stops at the notice", async () => {
    const email = `cache-${crypto.randomUUID()}@city.example`;
    await addUser(db(), { email, role: "reporter", password: PASSWORD });
    const { id, token } = await createToken(db(), { email, name: "phone", ttlMs: 3_600_000 });
    expect((await list(token)).status).toBe(200);
    expect(app.api!.credentials.size).toBeGreaterThan(0);
    // Revoked by another writer: the trigger's NOTIFY reaches this node's listener.
    await sql`update api_tokens set revoked_at = now() where id = ${id}`.execute(db());
    const ended = await endsWithin(token, 5_000);
    console.log(`[credential-cache] revoked by SQL: refused after ${ended.ms.toFixed(0)} ms`);
    expect(ended.status).toBe(401);
  }, 30_000);

  test("a user disabled or demoted elsewhere: their cached credential goes with the notice", async () => {
    const email = `cache-${crypto.randomUUID()}@city.example`;
    await addUser(db(), { email, role: "operator", password: PASSWORD });
    const { token } = await createToken(db(), { email, name: "desk", ttlMs: 3_600_000 });
    expect((await app.request("/api/v1/tags", json({ name: `t${Date.now()}` }, { headers: auth(token) }))).status).toBe(201);
    await sql`update users set role = 'viewer' where email = ${email}`.execute(db());
    // Now a viewer: the cached operator row is forgotten and writes are forbidden.
    const t0 = performance.now();
    let status = 201;
    while (status !== 403 && performance.now() - t0 < 5_000) {
      status = (await app.request("/api/v1/tags", json({ name: `t${crypto.randomUUID().slice(0, 8)}` }, { headers: auth(token) }))).status;
    }
    expect(status).toBe(403);
    const email2 = `cache-${crypto.randomUUID()}@city.example`;
    await addUser(db(), { email: email2, role: "reporter", password: PASSWORD });
    const t2 = (await createToken(db(), { email: email2, name: "phone", ttlMs: 3_600_000 })).token;
    expect((await list(t2)).status).toBe(200);
    await sql`update users set disabled_at = now() where email = ${email2}`.execute(db());
    expect((await endsWithin(t2, 5_000)).status).toBe(401);
  }, 30_000);

  test("sign-out through this node: the very next request is refused, on this node and on another", async () => {
    const email = `cache-${crypto.randomUUID()}@city.example`;
    await addUser(db(), { email, role: "reporter", password: PASSWORD });
    for (let i = 0; i < 5; i++) {
      const login = await app.request("/api/v1/auth/login", json({ email, password: PASSWORD }));
      expect(login.status).toBe(200);
      const { token } = (await login.json()) as { token: string };
      expect((await list(token)).status).toBe(200);
      expect((await list(token, other)).status).toBe(200);
      expect((await app.request("/api/v1/auth/logout", { method: "POST", headers: auth(token) })).status).toBeLessThan(300);
      expect((await list(token)).status).toBe(401);
      expect((await endsWithin(token, 5_000, other)).status).toBe(401);
    }
  }, 60_000);

  test("entries hold only within one listener connection and for the time given", async () => {
    let generation: number | null = 1;
    const cache = new CredentialCache(() => generation, 50);
    const row = { id: "u1", directory_dn: null, oidc_subject: null } as any;
    cache.set("k", row, cache.stamp());
    expect(cache.get("k")).toBe(row);
    // A read that raced a notice is not kept.
    const stale = cache.stamp();
    cache.forgetUser("someone else");
    cache.set("k2", row, stale);
    expect(cache.get("k2")).toBeUndefined();
    // The listener reconnected: what it may have missed is not trusted.
    generation = 2;
    expect(cache.get("k")).toBeUndefined();
    // Not listening: nothing is kept.
    generation = null;
    cache.set("k3", row, cache.stamp());
    expect(cache.get("k3")).toBeUndefined();
    generation = 3;
    cache.set("k4", row, cache.stamp());
    await Bun.sleep(80);
    expect(cache.get("k4")).toBeUndefined();
    // Directory and OIDC accounts are never kept.
    cache.set("k5", { ...row, directory_dn: "uid=x" }, cache.stamp());
    cache.set("k6", { ...row, oidc_subject: "sub" }, cache.stamp());
    expect([cache.get("k5"), cache.get("k6")]).toEqual([undefined, undefined]);
  });
});
