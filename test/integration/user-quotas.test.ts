import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createToken } from "../../core/auth/auth.service.ts";
import { json, startAppPair, type AppPair, type TestApp } from "../support/app.ts";
import { bearer, freshWindow, usersWithTokens } from "../support/security.ts";
import { openSse } from "../support/sse.ts";
import { run as retentionSweep } from "../../workers/tasks/retention_sweep.ts";

// Limits that follow the person across all their tokens and both API nodes: a login (or an
// admin-issued token) mints a new token, never a new quota.
const USER_LIMIT = 30;
const ITEM_QUOTA = 5;
const MAX_STREAMS = 2;
let pair: AppPair;
let a: TestApp;
let b: TestApp;
let n = 0;

beforeAll(async () => {
  pair = await startAppPair({
    roles: "api",
    "rate-limit": "1000/1m",
    "rate-limit-user": `${USER_LIMIT}/1m`,
    "quota-items": `${ITEM_QUOTA}/1m`,
    "max-event-streams": String(MAX_STREAMS),
    "rate-limit-login": "1000/1m",
  });
  ({ a, b } = pair);
}, 60_000);
afterAll(() => pair?.stop());

const db = () => a.rt.database.db;

/** A fresh user of `role` with `count` tokens: an API token and sessions from signing in on alternate nodes. */
async function userWithTokens(role: "operator" | "reporter", count: number) {
  const email = `q${++n}-${crypto.randomUUID().slice(0, 6)}@quota.example`;
  const tokens = [(await usersWithTokens(a, [[email, role]]))[email]!];
  while (tokens.length < count) {
    if (tokens.length % 2) tokens.push((await createToken(db(), { email, name: `extra ${tokens.length}`, ttlMs: 3_600_000 })).token);
    else {
      const r = await (tokens.length % 4 ? b : a).request("/api/v1/auth/login", json({ email, password: "long enough pw" }));
      tokens.push(((await r.json()) as { token: string }).token);
    }
  }
  const id = (await db().selectFrom("users").select("id").where("email", "=", email).executeTakeFirstOrThrow()).id;
  return { email, id, tokens };
}

const node = (i: number) => (i % 2 ? b : a);

function create(i: number, token: string): Promise<Response> {
  const h = { ...bearer(token) };
  switch (i % 3) {
    case 0:
      return node(i).request("/api/v1/items", json({ kind: "text", title: `report ${i}` }, { headers: h }));
    case 1:
      return node(i).request("/api/v1/streams", json({ title: `stream ${i}` }, { headers: h }));
    default: {
      const png = new Uint8Array(64);
      png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      return node(i).request("/api/v1/items/photos", { method: "POST", headers: { ...h, "content-type": "image/png" }, body: png });
    }
  }
}

describe("limits per user, across tokens and nodes", () => {
  test(`requests: ${USER_LIMIT} per minute for the user, however many tokens they spread them over`, async () => {
    await freshWindow(60, 20);
    const u = await userWithTokens("operator", 4);
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => node(i).request("/api/v1/auth/me", { headers: bearer(u.tokens[i % 4]!) })));
    const ok = answers.filter((r) => r.status === 200);
    const limited = answers.filter((r) => r.status === 429);
    expect(ok.length).toBe(USER_LIMIT);
    expect(limited.length).toBe(40 - USER_LIMIT);
    for (const r of limited) {
      expect(r.headers.get("retry-after")).toMatch(/^\d+$/);
      expect(r.headers.get("ratelimit-policy")).toBe(`"user";q=${USER_LIMIT};w=60`);
    }
    // Someone else is not affected.
    const other = await userWithTokens("operator", 1);
    expect((await a.request("/api/v1/auth/me", { headers: bearer(other.tokens[0]!) })).status).toBe(200);
  });

  test(`items: a reporter creates at most ${ITEM_QUOTA} per window with any mix of tokens, kinds and nodes; reading goes on`, async () => {
    await freshWindow(60, 20);
    const u = await userWithTokens("reporter", 3);
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => create(i, u.tokens[i % 3]!)));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 201).length).toBe(ITEM_QUOTA);
    expect(statuses.filter((s) => s === 429).length).toBe(12 - ITEM_QUOTA);
    const refused = answers.find((r) => r.status === 429)!;
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(((await refused.json()) as { detail: string }).detail).toContain("items created");
    const { n: stored } = await db()
      .selectFrom("items")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("author_id", "=", u.id)
      .executeTakeFirstOrThrow();
    expect(Number(stored)).toBe(ITEM_QUOTA);
    expect((await b.request("/api/v1/items", { headers: bearer(u.tokens[1]!) })).status).toBe(200);
  });

  test("items: operators are not counted", async () => {
    await freshWindow(60, 10);
    const u = await userWithTokens("operator", 2);
    const statuses = await Promise.all(Array.from({ length: ITEM_QUOTA + 3 }, (_, i) => create(i * 3, u.tokens[i % 2]!).then((r) => r.status)));
    expect(statuses).toEqual(Array(ITEM_QUOTA + 3).fill(201));
  });

  test(`event streams: a reporter holds at most ${MAX_STREAMS} open across both nodes; closing one frees a place; a dead node's leases stop counting`, async () => {
    const u = await userWithTokens("reporter", 3);
    const s1 = openSse(`${a.url}/api/v1/events`, bearer(u.tokens[0]!));
    const s2 = openSse(`${b.url}/api/v1/events`, bearer(u.tokens[1]!));
    expect([await s1.status, await s2.status]).toEqual([200, 200]);
    for (const [app, t] of [
      [a, u.tokens[2]!],
      [b, u.tokens[0]!],
    ] as const) {
      const r = await app.request("/api/v1/events", { headers: bearer(t) });
      expect(r.status).toBe(429);
      expect(r.headers.get("retry-after")).toMatch(/^\d+$/);
      expect(((await r.json()) as { detail: string }).detail).toContain("event streams");
    }
    s1.close();
    // The close reaches the server and drops the lease; until then the answer stays 429.
    let third: ReturnType<typeof openSse> | null = null;
    for (let i = 0; i < 50 && !third; i++) {
      const s = openSse(`${a.url}/api/v1/events`, bearer(u.tokens[2]!));
      if ((await s.status) === 200) third = s;
      else await Bun.sleep(100);
    }
    expect(third).not.toBeNull();
    third!.close();
    s2.close();

    // Leases a crashed node left behind (not renewed for an hour) do not count.
    const v = await userWithTokens("reporter", 1);
    await db()
      .insertInto("event_leases")
      .values([crypto.randomUUID(), crypto.randomUUID()].map((id) => ({ id, user_id: v.id, node_id: "gone", renewed_at: new Date(Date.now() - 3_600_000) })))
      .execute();
    const s = openSse(`${b.url}/api/v1/events`, bearer(v.tokens[0]!));
    expect(await s.status).toBe(200);
    s.close();
  });

  test("event streams: operators are not limited", async () => {
    const u = await userWithTokens("operator", 1);
    const streams = Array.from({ length: MAX_STREAMS + 2 }, (_, i) => openSse(`${node(i).url}/api/v1/events`, bearer(u.tokens[0]!)));
    expect(await Promise.all(streams.map((s) => s.status))).toEqual(Array(MAX_STREAMS + 2).fill(200));
    for (const s of streams) s.close();
  });

  test("the retention job drops leases nobody renewed for a day, and leaves live ones", async () => {
    const v = await userWithTokens("reporter", 1);
    const [old, recent] = [crypto.randomUUID(), crypto.randomUUID()];
    await db()
      .insertInto("event_leases")
      .values([
        { id: old, user_id: v.id, node_id: "gone", renewed_at: new Date(Date.now() - 2 * 86_400_000) },
        { id: recent, user_id: v.id, node_id: "alive", renewed_at: new Date() },
      ])
      .execute();
    await retentionSweep({ db: db(), store: a.rt.store, log: a.rt.log }, null, {});
    const left = await db().selectFrom("event_leases").select("id").where("user_id", "=", v.id).execute();
    expect(left.map((r) => r.id)).toEqual([recent]);
  });
});
