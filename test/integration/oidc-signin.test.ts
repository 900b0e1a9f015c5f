import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { addUser, createToken } from "../../core/auth/auth.service.ts";
import { until } from "../support/admin.ts";
import { json, startTestApp, type TestApp } from "../support/app.ts";
import { hydraBinary, startHydra, type TestHydra } from "../support/hydra.ts";
import { freePort } from "../support/net.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { openSse } from "../support/sse.ts";

// OpenID Connect sign-in against a real provider (Ory Hydra, started here with its login and
// consent app), driven over HTTP the way a browser would: every redirect followed, cookies kept
// per site. Sign-in and role mapping, state checks, a person in no mapped group, hostile claims,
// group changes seen at the (here 1 s) re-check, logout at both ends, and the provider down
// (503 while a local break-glass admin still signs in).

if (!hydraBinary()) throw new Error("hydra is missing: run bash scripts/ensure-tools.sh --oidc");

const RTER = "http://rter.test";
const CALLBACK = `${RTER}/api/v1/auth/oidc/callback`;
const LOCAL_ADMIN = { email: "breakglass@city.test", password: "break-glass-Admin-77" };

let hydra: TestHydra;
let app: TestApp;

beforeAll(async () => {
  hydra = await startHydra({ redirectUrls: [CALLBACK], postLogoutUrls: [`${RTER}/`] });
  hydra.users.set("alice", { password: "alice-pass-1", email: "alice@city.test", groups: ["eoc-operators", "staff"] });
  hydra.users.set("adam", { password: "adam-pass-1", email: "adam@city.test", groups: ["eoc-admins"] });
  hydra.users.set("nora", { password: "nora-pass-1", email: "nora@city.test", groups: ["cafeteria", "<b>bold</b>"] });
  app = await startTestApp({
    roles: "api",
    "database-url": await testDatabaseUrl(),
    ...hydra.settings(),
    "oidc-recheck": "1s",
    "rate-limit-login": "100000/1m",
    "rate-limit-anonymous": "100000/1m",
  });
  await addUser(app.rt.database.db, { email: LOCAL_ADMIN.email, role: "admin", password: LOCAL_ADMIN.password });
}, 240_000);
afterAll(async () => {
  await app?.stop();
  await hydra?.close();
});

/** A browser's cookies, per host:port. */
class Jar {
  private readonly byHost = new Map<string, Map<string, string>>();
  take(url: string, res: Response) {
    const host = new URL(url).host;
    const m = this.byHost.get(host) ?? new Map<string, string>();
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const at = pair!.indexOf("=");
      const name = pair!.slice(0, at).trim();
      const value = pair!.slice(at + 1).trim();
      if (/max-age=0/i.test(c) || value === "") m.delete(name);
      else m.set(name, value);
    }
    this.byHost.set(host, m);
  }
  header(url: string): string {
    return [...(this.byHost.get(new URL(url).host) ?? new Map()).entries()].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

/** One request as a browser makes it: rter through the app's handler, everything else over HTTP. */
async function visit(jar: Jar, url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const cookie = jar.header(url);
  if (cookie) headers.set("cookie", cookie);
  const res = url.startsWith(RTER)
    ? await app.request(url.slice(RTER.length), { ...init, headers })
    : await fetch(url, { ...init, headers, redirect: "manual" });
  jar.take(url, res);
  return res;
}

/** Follows redirects from `url` until an answer that is not one; returns it and the URL it came from. */
async function follow(jar: Jar, url: string, stopAt?: (url: string) => boolean, headers: Record<string, string> = {}): Promise<{ res: Response; url: string }> {
  for (let hops = 0; hops < 20; hops++) {
    if (stopAt?.(url)) return { res: new Response(null, { status: 299 }), url };
    const res = await visit(jar, url, { headers });
    const loc = res.headers.get("location");
    if (res.status < 300 || res.status >= 400 || !loc) return { res, url };
    await res.body?.cancel();
    url = new URL(loc, url).href;
  }
  throw new Error("too many redirects");
}

/** The whole sign-in as `subject` (the provider's login page signs them in at once). */
async function signIn(subject: string, returnTo = "/console", jar = new Jar(), headers: Record<string, string> = {}) {
  hydra.autoLogin = subject;
  const { res, url } = await follow(jar, `${RTER}/api/v1/auth/oidc/start?return_to=${encodeURIComponent(returnTo)}`, undefined, headers);
  return { res, url, jar };
}

/** Signs in and returns the session cookie jar (asserting success). */
async function session(subject: string) {
  const r = await signIn(subject);
  const body = await r.res.text();
  expect({ subject, status: r.res.status, url: r.url.split("?")[0], body: r.res.status === 200 ? "" : body }).toEqual({
    subject,
    status: 200,
    url: CALLBACK,
    body: "",
  });
  return r.jar;
}

const me = (jar: Jar) => visit(jar, `${RTER}/api/v1/auth/me`);
async function auditOf(action: string) {
  return (await app.rt.database.db.selectFrom("audit_log").select(["detail", "target_id"]).where("action", "=", action).orderBy("seq").execute()) as Array<{
    detail: Record<string, unknown>;
    target_id: string;
  }>;
}
const problem = async (res: Response) => ((await res.json()) as { detail: string }).detail;

describe("OIDC sign-in (Ory Hydra)", () => {
  test("discovery, code + PKCE, ID token: the mapped group gives the role; the browser lands where it started with a session cookie", async () => {
    const jar = new Jar();
    hydra.autoLogin = "alice";
    const start = await visit(jar, `${RTER}/api/v1/auth/oidc/start?return_to=/console`);
    expect(start.status).toBe(303);
    const auth = new URL(start.headers.get("location")!);
    expect(auth.origin + auth.pathname).toBe(`${hydra.issuer}oauth2/auth`);
    expect(auth.searchParams.get("code_challenge_method")).toBe("S256");
    expect(auth.searchParams.get("code_challenge")?.length).toBeGreaterThan(40);
    expect(auth.searchParams.get("state")).toBeTruthy();
    expect(auth.searchParams.get("nonce")).toBeTruthy();
    expect(auth.searchParams.get("redirect_uri")).toBe(CALLBACK);
    expect(start.headers.getSetCookie().join()).toMatch(/rter_oidc=.*HttpOnly; SameSite=Lax/);
    const { res, url } = await follow(jar, auth.href);
    expect(url.split("?")[0]).toBe(CALLBACK);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(await res.text()).toContain('content="0;url=/console"');
    const who = await me(jar);
    expect(who.status).toBe(200);
    expect(await who.json()).toMatchObject({ email: "alice@city.test", role: "operator" });
    const row = await app.rt.database.db
      .selectFrom("users")
      .select(["oidc_issuer", "oidc_subject", "password_hash"])
      .where("email", "=", "alice@city.test")
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ oidc_issuer: hydra.issuer, oidc_subject: "alice", password_hash: null });
    expect((await me(await session("adam"))).status).toBe(200);
    const logins = (await auditOf("login")).filter((l) => l.detail.via === "oidc");
    expect(logins.length).toBeGreaterThanOrEqual(2);
    expect(logins[0]!.detail).toMatchObject({ issuer: hydra.issuer, groups: ["eoc-operators"], refresh: true });
  }, 60_000);

  test("a wrong, missing or forged state is a 400 and signs no one in; a callback pushed into another browser finds no matching state", async () => {
    // The provider's answer for browser A, delivered to browser B (login CSRF).
    const a = await signIn("alice", "/console", new Jar());
    const b = new Jar();
    hydra.autoLogin = "alice";
    const started = await follow(b, `${RTER}/api/v1/auth/oidc/start`, (u) => u.startsWith(CALLBACK));
    expect(started.url.startsWith(CALLBACK)).toBe(true);
    const codeForB = new URL(started.url);
    // A's own flow cookie is spent; replay A's callback URL into B's browser with B's cookie.
    const replay = new URL(codeForB.href);
    replay.searchParams.set("state", "not-the-state-b-started");
    const wrong = await visit(b, replay.href);
    expect(wrong.status).toBe(400);
    expect(await problem(wrong)).toContain("state does not match");
    expect((await me(b)).status).toBe(401);
    expect(a.res.status).toBe(200);
    // No flow cookie at all, and a forged one.
    const none = await visit(new Jar(), codeForB.href);
    expect(none.status).toBe(400);
    expect(await problem(none)).toContain("no OpenID Connect sign-in was started in this browser");
    const forged = await app.request(`/api/v1/auth/oidc/callback${codeForB.search}`, { headers: { cookie: "rter_oidc=eyJzdGF0ZSI6IngifQ.AAAA" } });
    expect(forged.status).toBe(400);
    const failures = (await auditOf("login.failed")).filter((f) => f.detail.via === "oidc");
    expect(failures.map((f) => f.detail.reason)).toContain("state_mismatch");
  }, 60_000);

  test("a person in none of the mapped groups is refused with a 403 that says so, audited with what the claim held", async () => {
    const r = await signIn("nora");
    expect(r.url.split("?")[0]).toBe(CALLBACK);
    expect(r.res.status).toBe(403);
    expect(await problem(r.res)).toContain('none of the groups rter admits (claim "groups")');
    expect((await me(r.jar)).status).toBe(401);
    // A browser (Accept: text/html) is shown the same refusal as a page.
    const page = await signIn("nora", "/console", new Jar(), { accept: "text/html,application/xhtml+xml" });
    expect(page.res.status).toBe(403);
    expect(page.res.headers.get("content-type")).toContain("text/html");
    expect(await page.res.text()).toContain("none of the groups rter admits (claim &#34;groups&#34;)");
    const f = (await auditOf("login.failed")).filter((x) => x.detail.reason === "no_group").at(-1)!;
    expect(f.detail).toMatchObject({ via: "oidc", subject: "nora", values: ["cafeteria", "<b>bold</b>"], value_count: 2 });
    // Refused by the provider itself (consent rejected for someone it does not know): 401 naming the provider's error.
    const { res } = await signIn("ghost");
    expect(res.status).toBe(401);
    expect(await problem(res)).toContain("access_denied");
  }, 60_000);

  test("hostile claims: markup and oversized values neither break the sign-in nor reach the account, the audit or the answer unbounded", async () => {
    const huge = Array.from({ length: 3000 }, (_, i) => `g-${i}-${"x".repeat(40)}`);
    hydra.users.set("<script>alert(1)</script>", {
      password: "x",
      email: "<img src=x onerror=alert(1)>@evil.test",
      groups: ["eoc-operators", ...huge, { nested: true }, 42],
    });
    const r = await signIn("<script>alert(1)</script>", "//evil.test/phish");
    expect(r.res.status).toBe(200);
    // return_to left the site: the browser lands on / instead.
    expect(await r.res.text()).toContain('content="0;url=/"');
    const who = (await (await me(r.jar)).json()) as { email: string; role: string };
    expect(who.role).toBe("operator");
    expect(who.email).toMatch(/^oidc-[0-9a-f]{20}@127\.0\.0\.1$/);
    const login = (await auditOf("login")).at(-1)!;
    expect(JSON.stringify(login.detail).length).toBeLessThan(2000);
    // A subject longer than OIDC allows (255) is refused.
    const long = "s".repeat(300);
    hydra.users.set(long, { password: "x", groups: ["eoc-admins"] });
    const refused = await signIn(long);
    expect(refused.res.status).toBe(401);
    expect(await problem(refused.res)).toContain("no usable subject");
  }, 60_000);

  test("the groups are read again at the re-check (refresh grant): moved to another group, the role follows; removed, access ends and the account is disabled until a good sign-in", async () => {
    hydra.users.set("bob", { password: "x", email: "bob@city.test", groups: ["eoc-operators"] });
    const jar = await session("bob");
    expect(((await (await me(jar)).json()) as { role: string }).role).toBe("operator");
    hydra.users.get("bob")!.groups = ["eoc-viewers"];
    await until("bob's role to follow his group", async () => ((await (await me(jar)).json()) as { role: string }).role === "viewer");
    const changed = (await auditOf("user.role_changed")).at(-1)!;
    expect(changed.detail).toMatchObject({ from: "operator", to: "viewer", via: "oidc" });
    expect(hydra.refreshes).toBeGreaterThan(0);
    // Out of every mapped group: the next re-check ends it, and an open event stream with it
    // (the stream is one long request: the node's credential watch re-checks it).
    const sse = openSse(`${app.url}/api/v1/events`, { cookie: jar.header(RTER) });
    expect(await sse.status).toBe(200);
    hydra.users.get("bob")!.groups = ["cafeteria"];
    await sse.ended;
    await until("bob to lose access", async () => (await me(jar)).status === 401);
    expect((await auditOf("user.disabled")).at(-1)!.detail).toMatchObject({ email: "bob@city.test", via: "oidc", reason: "no_group" });
    // Back in a group: signing in again enables the account, but not the sessions it had.
    hydra.users.get("bob")!.groups = ["eoc-operators"];
    expect((await me(await session("bob"))).status).toBe(200);
    expect((await me(jar)).status).toBe(401);
    // Removed at the provider: the refresh is refused (the provider's hook says access_denied).
    const again = await session("bob");
    hydra.users.delete("bob");
    await until("bob's refresh to be refused", async () => (await me(again)).status === 401);
    expect((await auditOf("user.disabled")).at(-1)!.detail).toMatchObject({ via: "oidc", reason: "refresh_refused" });
  }, 60_000);

  test("logout ends the session here, revokes the refresh token and hands back the provider's logout URL, which completes there", async () => {
    const jar = await session("alice");
    const id = ((await (await me(jar)).json()) as { id: string }).id;
    const before = await app.rt.database.db.selectFrom("oidc_sessions").select("token_id").where("user_id", "=", id).execute();
    expect(before.length).toBeGreaterThan(0);
    // Cookie writes need the CSRF header.
    expect((await visit(jar, `${RTER}/api/v1/auth/oidc/logout`, { method: "POST" })).status).toBe(403);
    const out = await visit(jar, `${RTER}/api/v1/auth/oidc/logout`, { method: "POST", headers: { "x-requested-with": "rter" } });
    expect(out.status).toBe(200);
    const { end_session_url } = (await out.json()) as { end_session_url: string };
    const end = new URL(end_session_url);
    expect(end.origin + end.pathname).toBe(`${hydra.issuer}oauth2/sessions/logout`);
    expect(end.searchParams.get("id_token_hint")).toBeTruthy();
    expect(end.searchParams.get("post_logout_redirect_uri")).toBe(`${RTER}/`);
    expect((await me(jar)).status).toBe(401);
    const logouts = hydra.logouts;
    const back = await follow(jar, end_session_url, (u) => u === `${RTER}/`);
    expect(back.url).toBe(`${RTER}/`);
    expect(hydra.logouts).toBe(logouts + 1);
    const left = await app.rt.database.db
      .selectFrom("oidc_sessions")
      .select("token_id")
      .where(
        "token_id",
        "in",
        before.map((b) => b.token_id),
      )
      .execute();
    expect(left.length).toBe(before.length - 1);
    expect((await auditOf("logout")).at(-1)!.detail).toMatchObject({ via: "oidc", provider_logout: true, refresh_token_revoked: true });
    // The plain logout also forgets the provider tokens of an OIDC session.
    const other = await session("alice");
    expect((await visit(other, `${RTER}/api/v1/auth/logout`, { method: "POST", headers: { "x-requested-with": "rter" } })).status).toBe(204);
    expect((await me(other)).status).toBe(401);
    // An API token cannot sign out through the provider (it has no provider session).
    const tok = await createToken(app.rt.database.db, { email: "alice@city.test", name: "script", ttlMs: 60_000 });
    const api = await app.request("/api/v1/auth/oidc/logout", { method: "POST", headers: { authorization: `Bearer ${tok.token}` } });
    expect(api.status).toBe(400);
  }, 60_000);

  test("the provider down: sign-ins through it and due re-checks answer 503 with Retry-After, while a local break-glass admin signs in", async () => {
    const jar = await session("alice");
    // A node that has not discovered the provider yet, and a provider that is not there at all.
    const dead = await startTestApp({
      roles: "api",
      "database-url": await testDatabaseUrl(),
      ...hydra.settings(),
      "oidc-issuer": `http://127.0.0.1:${await freePort()}/`,
    });
    try {
      const r = await dead.request("/api/v1/auth/oidc/start");
      expect(r.status).toBe(503);
      expect(r.headers.get("retry-after")).toBeTruthy();
      expect(await problem(r)).toContain("is not answering");
    } finally {
      await dead.stop();
    }
    // A sign-in half way when the provider goes away, and a session due its re-check.
    hydra.autoLogin = "alice";
    const half = new Jar();
    const atCallback = await follow(half, `${RTER}/api/v1/auth/oidc/start`, (u) => u.startsWith(CALLBACK));
    await hydra.stop();
    try {
      const exchange = await visit(half, atCallback.url);
      expect(exchange.status).toBe(503);
      expect(exchange.headers.get("retry-after")).toBe("30");
      const due = await until("the session's re-check to hit the dead provider", async () => {
        const r = await me(jar);
        return r.status === 503 ? r : null;
      });
      expect(await problem(due)).toContain("identity provider");
      // Break-glass: the local admin never touches the provider.
      const local = await app.request("/api/v1/auth/login", json(LOCAL_ADMIN));
      expect(local.status).toBe(200);
      const token = ((await local.json()) as { token: string }).token;
      expect((await app.request("/api/v1/auth/me", { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    } finally {
      await hydra.start();
    }
    // Back up, but the provider forgot its sessions (in-memory): the refresh is refused, access ends.
    await until("the forgotten session to end", async () => (await me(jar)).status === 401);
    expect((await me(await session("alice"))).status).toBe(200);
  }, 60_000);

  test("--mfa-required admin: an admin's sign-in needs the provider to report a second factor (amr)", async () => {
    const strict = await startTestApp({
      roles: "api",
      "database-url": await testDatabaseUrl(),
      ...hydra.settings(),
      "mfa-required": "admin",
      "rate-limit-login": "100000/1m",
    });
    try {
      const through = async (subject: string) => {
        hydra.autoLogin = subject;
        const jar = new Jar();
        const start = await strict.request("/api/v1/auth/oidc/start");
        jar.take(`${RTER}/`, start);
        const at = await follow(jar, start.headers.get("location")!, (u) => u.startsWith(CALLBACK));
        return strict.request(at.url.slice(RTER.length), { headers: { cookie: jar.header(RTER) } });
      };
      hydra.users.set("ada", { password: "x", email: "ada@city.test", groups: ["eoc-admins"], amr: ["pwd"] });
      const refused = await through("ada");
      expect(refused.status).toBe(403);
      expect(await problem(refused)).toContain("needs a second factor");
      hydra.users.get("ada")!.amr = ["pwd", "otp"];
      expect((await through("ada")).status).toBe(200);
      // An operator is not asked (the policy names admin only).
      expect((await through("alice")).status).toBe(200);
    } finally {
      await strict.stop();
    }
  }, 60_000);

  test("without offline_access the provider gives no refresh token: the session ends at its first re-check (sign in again)", async () => {
    const short = await startTestApp({
      roles: "api",
      "database-url": await testDatabaseUrl(),
      ...hydra.settings(),
      "oidc-scopes": "openid email profile",
      "oidc-recheck": "1s",
      "rate-limit-login": "100000/1m",
    });
    try {
      hydra.autoLogin = "alice";
      const jar = new Jar();
      const start = await short.request("/api/v1/auth/oidc/start");
      jar.take(`${RTER}/`, start);
      const at = await follow(jar, start.headers.get("location")!, (u) => u.startsWith(CALLBACK));
      const cb = await short.request(at.url.slice(RTER.length), { headers: { cookie: jar.header(RTER) } });
      expect(cb.status).toBe(200);
      jar.take(`${RTER}/`, cb);
      const meShort = () => short.request("/api/v1/auth/me", { headers: { cookie: jar.header(RTER) } });
      expect((await meShort()).status).toBe(200);
      const ended = await until("the session without a refresh token to end", async () => {
        const r = await meShort();
        return r.status === 401 ? r : null;
      });
      expect(await problem(ended)).toContain("sign in again");
      const rows = (await short.rt.database!.db.selectFrom("audit_log").select(["detail"]).where("action", "=", "session.ended").execute()) as Array<{
        detail: Record<string, unknown>;
      }>;
      expect(rows.at(-1)!.detail).toMatchObject({ via: "oidc", reason: "no_refresh_token" });
    } finally {
      await short.stop();
    }
  }, 60_000);

  test("OIDC routes refuse hostile input precisely", async () => {
    expect((await app.request(`/api/v1/auth/oidc/start?return_to=${"a".repeat(600)}`)).status).toBe(400);
    expect((await app.request("/api/v1/auth/oidc/start?unknown=1")).status).toBe(400);
    const many = Array.from({ length: 30 }, (_, i) => `p${i}=1`).join("&");
    const jar = new Jar();
    const start = await visit(jar, `${RTER}/api/v1/auth/oidc/start`);
    await start.body?.cancel();
    expect((await visit(jar, `${CALLBACK}?${many}`)).status).toBe(400);
    const info = (await (await app.request("/api/v1/auth/oidc")).json()) as { enabled: boolean; start_url: string };
    expect(info).toMatchObject({ enabled: true, start_url: "/api/v1/auth/oidc/start" });
  }, 60_000);
});
