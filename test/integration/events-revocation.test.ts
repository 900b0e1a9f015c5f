import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createToken } from "../../core/auth/auth.service.ts";
import { json, startAppPair, type AppPair, type TestApp } from "../support/app.ts";
import { bearer, call, usersWithTokens } from "../support/security.ts";
import { openSse } from "../support/sse.ts";

// Two API nodes on one database. An event stream is opened on node A; the change that ends its
// credential is made on node B (or behind the API's back, in SQL). The stream must end on its own,
// with a last `session.ended` frame, and a reconnect with the same credential must be refused.
let pair: AppPair;
let a: TestApp;
let b: TestApp;
let admin: string;
let n = 0;

beforeAll(async () => {
  pair = await startAppPair({ roles: "api" });
  ({ a, b } = pair);
  admin = (await usersWithTokens(a, [["admin@watch.example", "admin"]]))["admin@watch.example"]!;
}, 60_000);
afterAll(() => pair?.stop());

const db = () => a.rt.database.db;

/** A fresh user of `role` with an API token (each variant gets its own, so they cannot interfere). */
async function freshUser(role: "operator" | "reporter" | "viewer" = "operator") {
  const email = `u${++n}-${crypto.randomUUID().slice(0, 8)}@watch.example`;
  const token = (await usersWithTokens(a, [[email, role]]))[email]!;
  const id = (await db().selectFrom("users").select("id").where("email", "=", email).executeTakeFirstOrThrow()).id;
  return { email, token, id };
}

async function signIn(node: TestApp, email: string): Promise<string> {
  const res = await node.request("/api/v1/auth/login", json({ email, password: "long enough pw" }));
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

/** Opens the stream on node A, makes sure it is live, runs `change`, and expects the stream to end. */
async function expectEnds(token: string, change: () => Promise<unknown>) {
  const sse = openSse(`${a.url}/api/v1/events`, bearer(token));
  expect(await sse.status).toBe(200);
  // Live: an item created now reaches it (so the stream was registered before the change).
  const marker = `before ${crypto.randomUUID()}`;
  expect((await call(b, admin, "POST", "/api/v1/items", { kind: "text", title: marker })).status).toBe(201);
  await sse.waitFor((f) => f.event === "item.created" && f.data.title === marker);
  await change();
  const ended = await Promise.race([sse.ended.then(() => true), Bun.sleep(15_000).then(() => false)]);
  sse.close();
  expect(ended).toBe(true);
  const last = sse.frames.at(-1)!;
  expect(last.event).toBe("session.ended");
  return last.data.reason as string;
}

/**
 * Time passing is simulated here by moving a row behind the triggers' back, which no notice
 * announces: the nodes' credential memory (core/auth/credential-cache.ts, at most 5 s) is dropped
 * as its time limit would drop it. Real expiry and idle time are judged with the clock on every
 * request, cached row or not.
 */
function forgetCredentials(): void {
  a.api!.credentials.clear();
  b.api!.credentials.clear();
}

/** A reconnect's status; an accepted one is closed again at once. */
async function reconnect(token: string) {
  const r = await a.request("/api/v1/events", { headers: bearer(token) });
  await r.body?.cancel();
  return r;
}

describe("open event streams end when their credential stops holding (two nodes)", () => {
  test("an API token revoked on the other node", async () => {
    const u = await freshUser();
    const t = await createToken(db(), { email: u.email, name: "revoke me", ttlMs: 3_600_000 });
    const reason = await expectEnds(t.token, async () => expect((await call(b, admin, "DELETE", `/api/v1/admin/tokens/${t.id}`)).status).toBe(204));
    expect(reason).toBe("revoked");
    expect((await reconnect(t.token)).status).toBe(401);
  });

  test("the user disabled on the other node", async () => {
    const u = await freshUser();
    await expectEnds(u.token, async () => expect((await call(b, admin, "PATCH", `/api/v1/admin/users/${u.id}`, { disabled: true })).status).toBe(200));
    expect((await reconnect(u.token)).status).toBe(401);
  });

  test("the user's role changed on the other node (a session and an API token)", async () => {
    const u = await freshUser("operator");
    const session = await signIn(b, u.email);
    const s1 = openSse(`${a.url}/api/v1/events`, bearer(session));
    expect(await s1.status).toBe(200);
    await expectEnds(u.token, async () => expect((await call(b, admin, "PATCH", `/api/v1/admin/users/${u.id}`, { role: "viewer" })).status).toBe(200));
    await Promise.race([s1.ended, Bun.sleep(15_000)]);
    s1.close();
    expect(s1.frames.at(-1)?.event).toBe("session.ended");
    expect((await reconnect(u.token)).status).toBe(401);
    expect((await reconnect(session)).status).toBe(401);
  });

  test("signing out of the session on the other node", async () => {
    const u = await freshUser();
    const session = await signIn(a, u.email);
    await expectEnds(session, async () => expect((await call(b, session, "POST", "/api/v1/auth/logout")).status).toBe(204));
    expect((await reconnect(session)).status).toBe(401);
  });

  test("a password change through another session on the other node", async () => {
    const u = await freshUser();
    const watching = await signIn(a, u.email);
    const changing = await signIn(b, u.email);
    const reason = await expectEnds(watching, async () =>
      expect((await call(b, changing, "POST", "/api/v1/auth/password", { current: "long enough pw", new: "a fresh passphrase now" })).status).toBe(200),
    );
    expect(reason).toBe("revoked");
    expect((await reconnect(watching)).status).toBe(401);
    expect((await reconnect(changing)).status).toBe(200);
  });

  test("an API token reaching its expiry time, with nobody doing anything", async () => {
    const u = await freshUser();
    const t = await createToken(db(), { email: u.email, name: "short", ttlMs: 2_500 });
    const reason = await expectEnds(t.token, async () => {});
    expect(reason).toBe("expired");
    expect((await reconnect(t.token)).status).toBe(401);
  });

  test("a session past its end (moved in the database, no notification) is found by the periodic recheck", async () => {
    const u = await freshUser();
    const session = await signIn(a, u.email);
    const reason = await expectEnds(session, async () => {
      await db()
        .updateTable("api_tokens")
        .set({ expires_at: new Date(Date.now() - 1000) })
        .where("user_id", "=", u.id)
        .where("kind", "=", "session")
        .execute();
      forgetCredentials();
    });
    expect(reason).toBe("expired");
    expect((await reconnect(session)).status).toBe(401);
  });

  test("a session idle for longer than --session-idle (its last use moved back in the database) ends", async () => {
    const u = await freshUser();
    const session = await signIn(a, u.email);
    const reason = await expectEnds(session, async () => {
      await db()
        .updateTable("api_tokens")
        .set({ last_used_at: new Date(Date.now() - 3_600_000) })
        .where("user_id", "=", u.id)
        .where("kind", "=", "session")
        .execute();
      forgetCredentials();
    });
    expect(reason).toBe("idle");
    expect((await reconnect(session)).status).toBe(401);
  });

  test("a role changed in SQL behind the API's back: a scoped token above the new role ends, and is refused", async () => {
    const u = await freshUser("operator");
    const t = await createToken(db(), { email: u.email, name: "scoped", ttlMs: 3_600_000, role: "operator" });
    const reason = await expectEnds(t.token, () => db().updateTable("users").set({ role: "reporter" }).where("id", "=", u.id).execute());
    expect(reason).toBe("outranked");
    expect((await reconnect(t.token)).status).toBe(401);
  });

  test("a role changed in SQL: an unscoped stream opened as operator ends; a reconnect gets the reporter's view", async () => {
    const u = await freshUser("operator");
    const reason = await expectEnds(u.token, () => db().updateTable("users").set({ role: "reporter" }).where("id", "=", u.id).execute());
    expect(reason).toBe("role changed");
    const again = openSse(`${a.url}/api/v1/events`, bearer(u.token));
    expect(await again.status).toBe(200);
    // As a reporter now: another user's item is no longer shown.
    const other = `not yours ${crypto.randomUUID()}`;
    const mine = `yours ${crypto.randomUUID()}`;
    expect((await call(b, admin, "POST", "/api/v1/items", { kind: "text", title: other })).status).toBe(201);
    expect((await call(b, u.token, "POST", "/api/v1/items", { kind: "text", title: mine })).status).toBe(201);
    await again.waitFor((f) => f.event === "item.created" && f.data.title === mine);
    again.close();
    expect(again.frames.some((f) => f.data?.title === other)).toBe(false);
  });

  test("a bystander's stream on the same node is not touched by all of that", async () => {
    const u = await freshUser();
    const sse = openSse(`${a.url}/api/v1/events`, bearer(u.token));
    expect(await sse.status).toBe(200);
    const other = await freshUser();
    await call(b, admin, "PATCH", `/api/v1/admin/users/${other.id}`, { disabled: true });
    await Bun.sleep(2_500); // longer than one periodic recheck
    const marker = `still here ${crypto.randomUUID()}`;
    expect((await call(b, admin, "POST", "/api/v1/items", { kind: "text", title: marker })).status).toBe(201);
    await sse.waitFor((f) => f.event === "item.created" && f.data.title === marker);
    expect(sse.frames.some((f) => f.event === "session.ended")).toBe(false);
    sse.close();
    expect(a.rt.credentialWatch!.watching).toBeLessThanOrEqual(1);
  });
});
