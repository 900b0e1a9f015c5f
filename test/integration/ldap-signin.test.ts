import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generate } from "otplib";
import { addUser } from "../../core/auth/auth.service.ts";
import { buildConfig } from "../../core/config/load.ts";
import { until } from "../support/admin.ts";
import { openSse } from "../support/sse.ts";
import { json, startTestApp, type TestApp } from "../support/app.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { slapdInstalled, startSlapd, type TestSlapd } from "../support/slapd.ts";

// Directory sign-in against a real OpenLDAP slapd: service-account search, user bind, group to
// role, a locked account, a group change seen within the (here 1 s) cache, an unreachable
// directory (503 while a local admin still signs in), and LDAP-injection strings as usernames.

if (!slapdInstalled()) throw new Error("slapd is missing: run bash scripts/ensure-tools.sh --ldap");

let slapd: TestSlapd;
let app: TestApp;
const LOCAL_ADMIN = { email: "breakglass@city.test", password: "break-glass-Admin-77" };

beforeAll(async () => {
  slapd = await startSlapd();
  app = await startTestApp({ roles: "api", "database-url": await testDatabaseUrl(), ...slapd.settings, "ldap-cache": "1s", "rate-limit-login": "100000/1m" });
  await addUser(app.rt.database.db, { email: LOCAL_ADMIN.email, role: "admin", password: LOCAL_ADMIN.password });
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await slapd?.close();
});

const signIn = (body: Record<string, string>) => app.request("/api/v1/auth/login", json(body));
const pw = (uid: string) => `${uid}-pass-1`;
async function session(uid: string): Promise<{ token: string; user: { email: string; role: string } }> {
  const r = await signIn({ email: uid, password: pw(uid) });
  expect({ uid, status: r.status }).toEqual({ uid, status: 200 });
  return (await r.json()) as { token: string; user: { email: string; role: string } };
}
const me = (token: string) => app.request("/api/v1/auth/me", { headers: { authorization: `Bearer ${token}` } });

async function auditOf(action: string): Promise<Array<{ detail: Record<string, unknown> }>> {
  const rows = await app.rt.database.db.selectFrom("audit_log").select(["detail"]).where("action", "=", action).orderBy("seq").execute();
  return rows as Array<{ detail: Record<string, unknown> }>;
}

describe("LDAP sign-in", () => {
  test("directory users sign in with their username (email or username field); the mapped group gives the role", async () => {
    const alice = await session("alice");
    expect(alice.user).toMatchObject({ email: "alice@city.test", role: "operator" });
    expect((await me(alice.token)).status).toBe(200);
    expect((await session("adam")).user.role).toBe("admin");
    expect((await session("vera")).user.role).toBe("viewer");
    const viaUsername = await signIn({ username: "bob", password: pw("bob") });
    expect(viaUsername.status).toBe(200);
    // Once known, the address works as well (the stored entry is bound by its DN).
    expect((await signIn({ email: "alice@city.test", password: pw("alice") })).status).toBe(200);
    const logins = await auditOf("login");
    expect(logins.filter((l) => l.detail.via === "ldap").length).toBeGreaterThanOrEqual(5);
  });

  test("a directory account's password is the directory's: neither the user nor an admin can set one in rter (409)", async () => {
    const star = await session("star*man");
    const own = await app.request(
      "/api/v1/auth/password",
      json({ current: pw("star*man"), new: "a brand new passphrase 1" }, { headers: { authorization: `Bearer ${star.token}` } }),
    );
    expect(own.status).toBe(409);
    expect(((await own.json()) as { detail: string }).detail).toContain("directory");
    const admin = await signIn(LOCAL_ADMIN);
    const token = ((await admin.json()) as { token: string }).token;
    const id = ((await (await me(star.token)).json()) as { id: string }).id;
    const set = await app.request(
      `/api/v1/admin/users/${id}/password`,
      json({ password: "a brand new passphrase 2" }, { headers: { authorization: `Bearer ${token}` } }),
    );
    expect(set.status).toBe(409);
    expect((await me(star.token)).status).toBe(200);
  });

  test("wrong passwords, a locked account and a person in no mapped group are refused alike (401), each audited with its reason", async () => {
    for (const [body, reason] of [
      [{ email: "alice", password: "not-her-password" }, "wrong_password"],
      [{ email: "alice", password: " " }, "wrong_password"],
      [{ email: "dora", password: pw("dora") }, "disabled"],
      [{ email: "nora", password: pw("nora") }, "no_group"],
      [{ email: "nobody-here", password: "whatever-1" }, "no_entry"],
    ] as const) {
      const r = await signIn(body);
      expect({ who: body.email, status: r.status, type: r.headers.get("content-type") }).toEqual({
        who: body.email,
        status: 401,
        type: "application/problem+json",
      });
      expect(await r.text()).not.toContain(reason);
      const failed = await auditOf("login.failed");
      expect(failed.at(-1)!.detail).toMatchObject({ email: body.email, via: "ldap", reason });
    }
    // An empty password never reaches the directory as an unauthenticated bind: the body is refused.
    expect((await signIn({ email: "alice", password: "" })).status).toBe(400);
  });

  test("LDAP-injection strings in the username match nobody, even with a real user's password; a uid holding '*' still signs in exactly", async () => {
    const hostile = [
      "*",
      "alic*",
      "a*",
      "alice*",
      "*)(uid=*",
      "alice)(uid=*",
      "*)(|(uid=*",
      "alice)(|(objectClass=*)",
      "(uid=alice)",
      "alice\\",
      "\\2a",
      "alice\u0000",
      "star*",
      "*man",
      "alice)(&",
      "admin*)((|userPassword=*)",
    ];
    for (const name of hostile) {
      for (const password of [pw("alice"), pw("adam")]) {
        const r = await signIn({ username: name, password });
        expect({ name, status: r.status }).toEqual({ name, status: 401 });
      }
    }
    const star = await signIn({ username: "star*man", password: pw("star*man") });
    expect(star.status).toBe(200);
    expect(((await star.json()) as { user: { role: string } }).user.role).toBe("operator");
    // None of it locked alice out: each string counted against itself.
    expect((await session("alice")).user.role).toBe("operator");
  });

  test("a group change reaches a signed-in user at their next request once the cache has passed: removed = no access, moved = new role", async () => {
    const bob = await session("bob");
    expect(bob.user.role).toBe("operator");
    await slapd.membership("bob", slapd.groups.operators, "delete");
    await slapd.membership("bob", slapd.groups.viewers, "add");
    await until("bob's session to act as a viewer", async () => ((await (await me(bob.token)).json()) as { role?: string }).role === "viewer");
    const roleChanges = await auditOf("user.role_changed");
    expect(roleChanges.at(-1)!.detail).toMatchObject({ from: "operator", to: "viewer", via: "directory" });

    await slapd.membership("bob", slapd.groups.viewers, "delete");
    await until("bob's session to be refused", async () => (await me(bob.token)).status === 401);
    expect((await auditOf("user.disabled")).at(-1)!.detail).toMatchObject({ via: "directory", reason: "no_group" });
    expect((await signIn({ email: "bob", password: pw("bob") })).status).toBe(401);
    // Back in a group: the next sign-in works again, with that group's role.
    await slapd.membership("bob", slapd.groups.admins, "add");
    expect((await session("bob")).user.role).toBe("admin");
  });

  test("an open event stream of a directory user ends once they leave the mapped groups (a stream is one long request)", async () => {
    const alice = await session("alice");
    const sse = openSse(`${app.url}/api/v1/events`, { authorization: `Bearer ${alice.token}` });
    expect(await sse.status).toBe(200);
    await slapd.membership("alice", slapd.groups.operators, "delete");
    await sse.ended;
    expect((await me(alice.token)).status).toBe(401);
    await slapd.membership("alice", slapd.groups.operators, "add");
    expect((await session("alice")).user.role).toBe("operator");
  });

  test("an unreachable directory is a clear 503 with Retry-After (and locks no one); the local admin still signs in; directory sessions past the cache wait too", async () => {
    const alice = await session("alice");
    await slapd.stop();
    try {
      for (let i = 0; i < 7; i++) {
        const r = await signIn({ email: "alice", password: pw("alice") });
        expect(r.status).toBe(503);
        expect(r.headers.get("retry-after")).toBeTruthy();
        expect(((await r.json()) as { detail: string }).detail).toContain("directory");
      }
      const local = await signIn(LOCAL_ADMIN);
      expect(local.status).toBe(200);
      expect(((await local.json()) as { user: { role: string } }).user.role).toBe("admin");
      await until("alice's session to need the directory", async () => (await me(alice.token)).status === 503);
    } finally {
      await slapd.start();
    }
    // Seven outage attempts counted toward no lockout (--login-max-failures is 5).
    expect((await signIn({ email: "alice", password: pw("alice") })).status).toBe(200);
    expect((await me(alice.token)).status).toBe(200);
  });

  test("TLS: ldaps:// and StartTLS with --ldap-ca-file sign in; a certificate the CA file does not vouch for is a 503, not a plain-text fallback", async () => {
    const db = await testDatabaseUrl();
    const variants = [
      { name: "ldaps with CA", settings: { "ldap-url": slapd.ldapsUrl, "ldap-ca-file": slapd.caFile }, want: 200 },
      { name: "StartTLS with CA", settings: { "ldap-url": slapd.url, "ldap-starttls": "true", "ldap-ca-file": slapd.caFile }, want: 200 },
      { name: "ldaps, system CAs only", settings: { "ldap-url": slapd.ldapsUrl }, want: 503 },
      { name: "StartTLS, system CAs only", settings: { "ldap-url": slapd.url, "ldap-starttls": "true" }, want: 503 },
    ];
    for (const v of variants) {
      const other = await startTestApp({ roles: "api", "database-url": db, ...slapd.settings, ...v.settings, "rate-limit-login": "100000/1m" });
      try {
        const r = await other.request("/api/v1/auth/login", json({ email: "alice", password: pw("alice") }));
        expect({ name: v.name, status: r.status }).toEqual({ name: v.name, status: v.want });
        if (v.want === 503) expect(((await r.json()) as { detail: string }).detail).toMatch(/directory.*(certificate|self.signed|verify)/i);
      } finally {
        await other.stop();
      }
    }
  }, 60_000);

  test("a directory operator under --mfa-required operator: password at the directory, then TOTP enrolment and code, then the session", async () => {
    const other = await startTestApp({
      roles: "api",
      "database-url": await testDatabaseUrl(),
      ...slapd.settings,
      "mfa-required": "operator",
      "rate-limit-login": "100000/1m",
    });
    try {
      const step = await other.request("/api/v1/auth/login", json({ username: "alice", password: pw("alice") }));
      expect(step.status).toBe(202);
      const { challenge, enrolled } = (await step.json()) as { challenge: string; enrolled: boolean };
      expect(enrolled).toBe(false);
      const { secret } = (await (await other.request("/api/v1/auth/mfa/totp/enrol", json({ challenge }))).json()) as { secret: string };
      const done = await other.request("/api/v1/auth/mfa", json({ challenge, code: await generate({ secret }) }));
      expect(done.status).toBe(200);
      expect(((await done.json()) as { user: { email: string; role: string } }).user).toMatchObject({ email: "alice@city.test", role: "operator" });
      // A viewer from the directory is not asked.
      expect((await other.request("/api/v1/auth/login", json({ username: "vera", password: pw("vera") }))).status).toBe(200);
    } finally {
      await other.stop();
    }
  }, 60_000);

  test("configuration: --ldap-url needs the service account, base and role map; role map and filter are checked", () => {
    const base = {
      "ldap-url": "ldap://dir.city:389",
      "ldap-bind-dn": "cn=svc",
      "ldap-bind-password": "x",
      "ldap-user-base": "ou=people",
      "ldap-role-map": "cn=ops,ou=g=operator",
    };
    expect(buildConfig(base, {}).security.ldap).toMatchObject({
      url: "ldap://dir.city:389",
      userFilter: "(uid={username})",
      roleMap: [{ groupDn: "cn=ops,ou=g", role: "operator" }],
      cacheMs: 300_000,
    });
    expect(() => buildConfig({ ...base, "ldap-bind-dn": undefined }, {})).toThrow(/--ldap-bind-dn/);
    expect(() => buildConfig({ ...base, "ldap-role-map": "cn=ops=superuser" }, {})).toThrow(/--ldap-role-map/);
    expect(() => buildConfig({ ...base, "ldap-user-filter": "(uid=alice)" }, {})).toThrow(/\{username\}/);
    expect(() => buildConfig({ ...base, "ldap-user-filter": "(&(uid={username})" }, {})).toThrow(/unbalanced/);
    expect(() => buildConfig({ ...base, "ldap-cache": "10m" }, {})).toThrow(/--ldap-cache/);
    expect(() => buildConfig({ ...base, "ldap-url": "http://dir" }, {})).toThrow(/--ldap-url/);
    expect(buildConfig({ ...base, "ldap-user-filter": "(sAMAccountName={username})" }, {}).security.ldap!.userFilter).toBe("(sAMAccountName={username})");
  });
});
