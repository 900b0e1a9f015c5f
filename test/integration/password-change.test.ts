import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addUser, createToken } from "../../core/auth/auth.service.ts";
import { json, startTestApp, type TestApp } from "../support/app.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { runCli } from "../support/rter-process.ts";
import { bearer, call } from "../support/security.ts";

// Password changes by every path (self through the API, an admin through the API, the CLI), with
// one set of rules: 12+ characters, not a common or dressed-up common password. A change ends
// the user's other sessions; bad input is a precise 4xx and changes nothing.
let app: TestApp;
let minio: TestMinio;
let admin: string;
let n = 0;
const PW = "first long password";

beforeAll(async () => {
  minio = await startMinio();
  // Many sign-ins from one address: the per-address sign-in limit is not what this file tests.
  app = await startTestApp({ "database-url": await testDatabaseUrl(), "storage-url": minio.url, roles: "api", "rate-limit-login": "1000/1m" });
  await addUser(app.rt.database.db, { email: "root@pw.example", role: "admin", password: PW });
  admin = (await createToken(app.rt.database.db, { email: "root@pw.example", name: "t", ttlMs: 3_600_000 })).token;
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await minio?.stop();
});

const db = () => app.rt.database.db;
async function freshUser(role: "operator" | "reporter" = "reporter") {
  const email = `p${++n}-${crypto.randomUUID().slice(0, 6)}@pw.example`;
  const { user } = await addUser(db(), { email, role, password: PW });
  return { email, id: user.id };
}
async function login(email: string, password: string) {
  return app.request("/api/v1/auth/login", json({ email, password }));
}
async function session(email: string, password = PW): Promise<string> {
  const r = await login(email, password);
  expect(r.status).toBe(200);
  return ((await r.json()) as { token: string }).token;
}
const me = (t: string) => app.request("/api/v1/auth/me", { headers: bearer(t) });
const change = (t: string, body: unknown, headers: Record<string, string> = {}) => call(app, t, "POST", "/api/v1/auth/password", body, headers);
async function problem(res: Response, status: number, detail?: RegExp) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const p = (await res.json()) as { detail: string };
  if (detail) expect(p.detail).toMatch(detail);
  return p;
}
const hashOf = async (id: string) => (await db().selectFrom("users").select("password_hash").where("id", "=", id).executeTakeFirstOrThrow()).password_hash;

describe("POST /api/v1/auth/password (self)", () => {
  test("changes the password, ends the other sessions, keeps this one and the API tokens, and is audited without the password", async () => {
    const u = await freshUser();
    const s1 = await session(u.email);
    const s2 = await session(u.email);
    const api = (await createToken(db(), { email: u.email, name: "app", ttlMs: 3_600_000 })).token;
    const next = "a completely new passphrase";
    const res = await change(s1, { current: PW, new: next });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ sessions_ended: 1 });
    expect((await me(s1)).status).toBe(200);
    expect((await me(s2)).status).toBe(401);
    expect((await me(api)).status).toBe(200);
    expect((await login(u.email, PW)).status).toBe(401);
    expect((await login(u.email, next)).status).toBe(200);
    const rows = await db()
      .selectFrom("audit_log")
      .select(["action", "detail", "actor_id"])
      .where("target_id", "=", u.id)
      .where("action", "like", "user.password%")
      .execute();
    expect(rows.map((r) => r.action)).toEqual(["user.password_changed"]);
    expect(rows[0]!.actor_id).toBe(u.id);
    expect(JSON.stringify(rows)).not.toContain(next);
    expect(JSON.stringify(rows)).not.toContain(PW);
  });

  test("with an API token every session of the user ends", async () => {
    const u = await freshUser();
    const s1 = await session(u.email);
    const api = (await createToken(db(), { email: u.email, name: "app", ttlMs: 3_600_000 })).token;
    const res = await change(api, { current: PW, new: "another fine passphrase" });
    expect(await res.json()).toEqual({ sessions_ended: 1 });
    expect((await me(s1)).status).toBe(401);
  });

  test.each([
    ["too short", { current: PW, new: "short one" }, /at least 12/],
    ["a common password", { current: PW, new: "1qaz2wsx3edc" }, /common/],
    ["a common password dressed up", { current: PW, new: "P@ssw0rd2024!!" }, /common/],
    ["one piece repeated", { current: PW, new: "abcdabcdabcdabcd" }, /repeated/],
    ["a keyboard run", { current: PW, new: "qwertyuiopasdfgh" }, /run of keys/],
    ["the account's own address", { current: PW, new: "EMAIL" }, /own name or address/],
    ["the current password again", { current: PW, new: PW }, /current one/],
    ["a control character", { current: PW, new: "good words\u0000hidden here" }, /control/],
    ["1025 characters", { current: PW, new: "x".repeat(1025) }, undefined],
    ["a number instead of a string", { current: PW, new: 123456789012345 }, undefined],
    ["an array", { current: PW, new: ["a long enough password"] }, undefined],
    ["null", { current: PW, new: null }, undefined],
    ["the field missing", { current: PW }, undefined],
    ["an extra field", { current: PW, new: "a long enough password", user_id: "00000000-0000-0000-0000-000000000000" }, undefined],
  ])("refuses %s with 400 and changes nothing", async (_name, body, detail) => {
    const u = await freshUser();
    const s = await session(u.email);
    const before = await hashOf(u.id);
    const b = JSON.parse(JSON.stringify(body).replace("EMAIL", u.email.toUpperCase()));
    await problem(await change(s, b), 400, detail);
    expect(await hashOf(u.id)).toBe(before);
    expect((await me(s)).status).toBe(200);
  });

  test("a wrong current password is 403, counts toward the lockout (then 429 even with the right one), and is audited", async () => {
    const u = await freshUser();
    const s = await session(u.email);
    for (let i = 0; i < 5; i++) await problem(await change(s, { current: `wrong guess ${i} here`, new: "a brand new passphrase" }), i < 4 ? 403 : 429);
    const locked = await change(s, { current: PW, new: "a brand new passphrase" });
    await problem(locked, 429, /locked/);
    expect(locked.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await login(u.email, PW)).status).toBe(429);
    const refused = await db()
      .selectFrom("audit_log")
      .select("id")
      .where("target_id", "=", u.id)
      .where("action", "=", "user.password_change_refused")
      .execute();
    expect(refused.length).toBe(5);
    expect((await call(app, admin, "POST", `/api/v1/admin/users/${u.id}/unlock`)).status).toBe(200);
    expect((await change(s, { current: PW, new: "a brand new passphrase" })).status).toBe(200);
  });

  test("an invite account (no password) gets 409; no credentials 401; a cookie without X-Requested-With 403", async () => {
    const inv = await call(app, admin, "POST", "/api/v1/invites", {});
    const accepted = await app.request("/api/v1/invites/accept", json({ token: ((await inv.json()) as { token: string }).token }));
    const invited = ((await accepted.json()) as { token: string }).token;
    await problem(await change(invited, { current: "", new: "a long enough password" }), 409, /without a password/);
    await problem(await app.request("/api/v1/auth/password", json({ current: PW, new: "a long enough password" })), 401);
    const u = await freshUser();
    const s = await session(u.email);
    await problem(
      await app.request("/api/v1/auth/password", json({ current: PW, new: "a long enough password" }, { headers: { cookie: `rter_session=${s}` } })),
      403,
      /X-Requested-With/i,
    );
    expect(await hashOf(u.id)).toBe((await db().selectFrom("users").select("password_hash").where("id", "=", u.id).executeTakeFirstOrThrow()).password_hash);
    const viaCookie = await app.request(
      "/api/v1/auth/password",
      json({ current: PW, new: "a long enough password" }, { headers: { cookie: `rter_session=${s}`, "x-requested-with": "rter" } }),
    );
    expect(viaCookie.status).toBe(200);
  });
});

describe("POST /api/v1/admin/users/{id}/password", () => {
  test("an admin sets a generated password: returned once, every session of the user ends, the lockout is lifted", async () => {
    const u = await freshUser("operator");
    const s = await session(u.email);
    for (let i = 0; i < 5; i++) await login(u.email, "wrong guess again");
    const res = await call(app, admin, "POST", `/api/v1/admin/users/${u.id}/password`, {});
    expect(res.status).toBe(200);
    const body = (await res.json()) as { user: { email: string }; password: string; sessions_ended: number };
    expect(body.user.email).toBe(u.email);
    expect(body.password.length).toBeGreaterThanOrEqual(12);
    expect(body.sessions_ended).toBe(1);
    expect((await me(s)).status).toBe(401);
    expect((await login(u.email, body.password)).status).toBe(200);
    const rows = await db().selectFrom("audit_log").select(["detail"]).where("target_id", "=", u.id).where("action", "=", "user.password_reset").execute();
    expect(rows.length).toBe(1);
    expect(JSON.stringify(rows)).not.toContain(body.password);
  });

  test("the same rules apply; only admins; unknown and malformed ids", async () => {
    const u = await freshUser();
    const before = await hashOf(u.id);
    await problem(await call(app, admin, "POST", `/api/v1/admin/users/${u.id}/password`, { password: "password1234" }), 400, /common/);
    await problem(await call(app, admin, "POST", `/api/v1/admin/users/${u.id}/password`, { password: "tiny" }), 400);
    await problem(await call(app, admin, "POST", `/api/v1/admin/users/${crypto.randomUUID()}/password`, {}), 404);
    await problem(await call(app, admin, "POST", `/api/v1/admin/users/not-a-uuid/password`, {}), 400);
    const op = await freshUser("operator");
    const opToken = await session(op.email);
    await problem(await call(app, opToken, "POST", `/api/v1/admin/users/${u.id}/password`, { password: "a long enough password" }), 403);
    expect(await hashOf(u.id)).toBe(before);
    // Creating a user follows the same rules.
    await problem(await call(app, admin, "POST", "/api/v1/admin/users", { email: "weak@pw.example", role: "viewer", password: "iloveyou1234" }), 400, /common/);
  });
});

describe("rter users password", () => {
  const env = () => ({ DATABASE_URL: app.rt.config.database.url!, RTER_DATA_DIR: mkdtempSync(join(tmpdir(), "rter-cli-")), RTER_LOG_LEVEL: "error" });

  test("sets the given password and ends the user's sessions", async () => {
    const u = await freshUser();
    const s = await session(u.email);
    const r = await runCli(["users", "password", "--email", u.email, "--password", "set from the command line"], env());
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("1 session(s) ended");
    expect((await me(s)).status).toBe(401);
    expect((await login(u.email, "set from the command line")).status).toBe(200);
  });

  test("without --password prints a generated one that works", async () => {
    const u = await freshUser();
    const r = await runCli(["users", "password", "--email", u.email], env());
    expect(r.code).toBe(0);
    const pw = /^password: (\S+)$/m.exec(r.stdout)![1]!;
    expect((await login(u.email, pw)).status).toBe(200);
  });

  test.each([
    ["too short", ["--password", "short"], /at least 12/],
    ["common", ["--password", "qwerty123456"], /common/],
    ["unknown user", ["--password", "a long enough password"], /no such user/],
  ])("refuses %s with one line and exit 2, changing nothing", async (name, extra, msg) => {
    const u = await freshUser();
    const before = await hashOf(u.id);
    const email = name === "unknown user" ? "ghost@pw.example" : u.email;
    const r = await runCli(["users", "password", "--email", email, ...extra], env());
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(msg);
    expect(await hashOf(u.id)).toBe(before);
  });

  test("without --email, and users add with a common password, are refused the same way", async () => {
    const a = await runCli(["users", "password"], env());
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("--email is required");
    const b = await runCli(["users", "add", "--email", "weak2@pw.example", "--role", "viewer", "--password", "baseball1234"], env());
    expect(b.code).toBe(2);
    expect(b.stderr.trim().split("\n")).toHaveLength(1);
    expect(b.stderr).toMatch(/common/);
  });
});
