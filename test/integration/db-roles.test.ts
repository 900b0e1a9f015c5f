import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { addUser } from "../../core/auth/auth.service.ts";
import { buildConfig } from "../../core/config/load.ts";
import { urlAsRole, urlRole } from "../../core/db/roles.ts";
import { until } from "../support/admin.ts";
import { json, startTestApp, type TestApp } from "../support/app.ts";
import { freePort } from "../support/net.ts";
import { testDatabaseUrl } from "../support/postgres.ts";

// Issue 12: the credentials every node holds cannot undo the evidence. The owner role migrates;
// the runtime role the app runs as has DML only, and not even that where rows must stay.

const apps: TestApp[] = [];
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const a of apps) await a.stop().catch(() => {});
  for (const c of cleanup) await c().catch(() => {});
});

async function asUser<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

/** The SQLSTATE of a statement that must fail, or "ok" when it ran. */
async function refusal(url: string, statement: string): Promise<string> {
  return asUser(url, (c) =>
    c.query(statement).then(
      () => "ok",
      (e: { code?: string }) => e.code ?? "?",
    ),
  );
}

/** Works as the app (sign-in, stream, hold placed and released, audit read and verified). */
async function exerciseApp(app: TestApp, email: string): Promise<string> {
  const password = `pw-${randomBytes(8).toString("hex")}-Quay`;
  await addUser(app.rt.database.db, { email, role: "admin", password });
  const login = await app.request("/api/v1/auth/login", json({ email, password }));
  expect(login.status).toBe(200);
  const token = ((await login.json()) as { token: string }).token;
  const auth = { authorization: `Bearer ${token}` };
  const stream = await app.request("/api/v1/streams", json({ title: "flood at the weir" }, { headers: auth }));
  expect(stream.status).toBe(201);
  const { id } = (await stream.json()) as { id: string };
  expect((await app.request(`/api/v1/streams/${id}/hold`, json({ reason: "case 12" }, { headers: auth }))).status).toBeLessThan(300);
  expect((await app.request(`/api/v1/streams/${id}`, { method: "DELETE", headers: auth })).status).toBe(409);
  expect((await app.request(`/api/v1/streams/${id}/hold`, { method: "DELETE", headers: auth })).status).toBeLessThan(300);
  expect((await app.request(`/api/v1/streams/${id}`, { method: "DELETE", headers: auth })).status).toBeLessThan(300);
  if (app.rt.has("worker")) {
    // The job queue (graphile-worker's own tables, row security on) works through the runtime role.
    const probe = await app.request("/api/v1/admin/queue-probes", { method: "POST", headers: auth });
    expect(probe.status).toBe(201);
    const pid = ((await probe.json()) as { id: string }).id;
    await until(
      "the queue probe to run",
      async () => ((await (await app.request(`/api/v1/admin/queue-probes/${pid}`, { headers: auth })).json()) as { ran_at: string | null }).ran_at,
    );
  }
  const verify = await app.request("/api/v1/admin/audit/verify", { headers: auth });
  expect(verify.status).toBe(200);
  expect(((await verify.json()) as { ok: boolean }).ok).toBe(true);
  return id;
}

/** Every way of undoing the evidence, tried with the runtime role's own connection. */
async function expectEvidenceLocked(runtimeUrl: string): Promise<void> {
  // Privileges are checked before any row is looked at: these fail on empty tables too.
  const attempts: Record<string, string> = {
    "alter table audit_log disable trigger audit_log_no_change": "42501",
    "alter table legal_holds disable trigger legal_holds_guard": "42501",
    "alter table items disable trigger all": "42501",
    "drop trigger audit_log_no_change on audit_log": "42501",
    "drop trigger legal_holds_guard on legal_holds": "42501",
    "truncate audit_log": "42501",
    "truncate legal_holds cascade": "42501",
    "update audit_log set detail = '{}'": "42501",
    "delete from audit_log": "42501",
    "delete from legal_holds": "42501",
    "drop table audit_log": "42501",
    "alter table audit_log owner to current_user": "42501",
    "create table public.sneaky (x int)": "42501",
    "create or replace function rter_audit_append_only() returns trigger language plpgsql as $$ begin return new; end $$": "42501",
    // Replica mode would skip ordinary triggers; only a superuser may set it.
    "set session_replication_role = replica": "42501",
    "drop schema graphile_worker cascade": "42501",
  };
  for (const [statement, code] of Object.entries(attempts)) {
    expect({ statement, code: await refusal(runtimeUrl, statement) }).toEqual({ statement, code });
  }
  // Reading and appending still work: that is all the app needs.
  const n = await asUser(runtimeUrl, (c) => c.query<{ n: string }>("select count(*)::text as n from audit_log"));
  expect(Number(n.rows[0]!.n)).toBeGreaterThan(0);
}

describe("two database roles", () => {
  test("external Postgres: owner migrates via --database-owner-url, the app runs on a DML-only role that cannot disable, drop or bypass the evidence triggers", async () => {
    const base = await testDatabaseUrl();
    const db = new URL(base).pathname.slice(1);
    const tag = randomBytes(4).toString("hex");
    const owner = { name: `rter_own_${tag}`, password: randomBytes(12).toString("hex") };
    const runtime = { name: `rter_run_${tag}`, password: randomBytes(12).toString("hex") };
    await asUser(base, async (c) => {
      await c.query(`create role ${owner.name} login password '${owner.password}'`);
      await c.query(`create role ${runtime.name} login password '${runtime.password}'`);
      await c.query(`alter database ${db} owner to ${owner.name}`);
    });
    cleanup.push(() =>
      asUser(new URL("/postgres", base).toString(), async (c) => {
        await c.query(`drop database if exists ${db} with (force)`);
        await c.query(`drop role if exists ${runtime.name}`);
        await c.query(`drop role if exists ${owner.name}`);
      }),
    );
    const withCreds = (u: { name: string; password: string }) => {
      const url = new URL(base);
      url.username = u.name;
      url.password = u.password;
      return url.toString();
    };
    const ownerUrl = withCreds(owner);
    const runtimeUrl = withCreds(runtime);

    const app = await startTestApp({ roles: "api,worker", "database-url": runtimeUrl, "database-owner-url": ownerUrl });
    apps.push(app);
    expect(urlRole(app.rt.database.url)).toBe(runtime.name);
    const streamId = await exerciseApp(app, `admin-${tag}@city.test`);
    expect(streamId).toBeTruthy();
    // The owner role owns every table; the runtime role none.
    await asUser(runtimeUrl, async (c) => {
      const tables = await c.query<{ relname: string; owner: string }>(
        "select c.relname, pg_get_userbyid(c.relowner) as owner from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'r'",
      );
      expect(tables.rows.length).toBeGreaterThan(10);
      expect(tables.rows.every((r) => r.owner === owner.name)).toBe(true);
    });
    await expectEvidenceLocked(runtimeUrl);

    // A second node starting with the same settings finds nothing to migrate and re-sets the same rights.
    const second = await startTestApp({ roles: "api", "database-url": runtimeUrl, "database-owner-url": ownerUrl });
    apps.push(second);
    expect((await second.request("/healthz")).status).toBe(200);
    // A node holding only the runtime URL starts too (nothing pending, no DDL attempted).
    const runtimeOnly = await startTestApp({ roles: "api", "database-url": runtimeUrl });
    apps.push(runtimeOnly);
    expect((await runtimeOnly.request("/readyz")).status).toBe(200);
    await expectEvidenceLocked(runtimeUrl);

    // A rollback: a newer release added an expand-only migration (recorded by the owner); a node of
    // this release holding only the runtime URL starts on that schema, with no DDL attempted.
    await asUser(ownerUrl, async (c) => {
      await c.query("insert into kysely_migration (name, timestamp) values ('2099_12_31_0001_newer', now()::text)");
      await c.query("insert into rter_meta.migration_compat (name, expand_only) values ('2099_12_31_0001_newer', true)");
    });
    const older = await startTestApp({ roles: "api", "database-url": runtimeUrl });
    apps.push(older);
    expect((await older.request("/readyz")).status).toBe(200);
    // Not expand-only: refused, naming it.
    await asUser(ownerUrl, (c) => c.query("update rter_meta.migration_compat set expand_only = false where name = '2099_12_31_0001_newer'"));
    const refused = await startTestApp({ roles: "api", "database-url": runtimeUrl }).then(
      (a) => {
        apps.push(a);
        return "started";
      },
      (e: Error) => e.message,
    );
    expect(refused).toContain("2099_12_31_0001_newer");
    await asUser(ownerUrl, async (c) => {
      await c.query("delete from kysely_migration where name = '2099_12_31_0001_newer'");
    });
  }, 120_000);

  test("the embedded default: the cluster's superuser migrates, the app runs as rter_app with the same narrow rights", async () => {
    const port = await freePort();
    const app = await startTestApp({ roles: "api", "embedded-pg-port": String(port) });
    apps.push(app);
    const runtimeUrl = app.rt.database.url;
    expect(urlRole(runtimeUrl)).toBe("rter_app");
    await exerciseApp(app, "admin@embedded.test");
    await expectEvidenceLocked(runtimeUrl);
    // The owner (superuser) still can: the split is about what the app's own credentials reach.
    expect(await refusal(urlAsRole(runtimeUrl, "postgres"), "select 1 from audit_log limit 1")).toBe("ok");
  }, 180_000);

  test("config: the owner URL needs a runtime URL, and the two must be different roles", () => {
    expect(() => buildConfig({ "database-owner-url": "postgres://own:x@db/rter" }, {})).toThrow(/needs --database-url/);
    expect(() => buildConfig({ "database-owner-url": "postgres://rter:x@db/rter", "database-url": "postgres://rter:y@db/rter" }, {})).toThrow(/another role/);
    const c = buildConfig({}, { DATABASE_OWNER_URL: "postgres://own:x@db/rter", DATABASE_URL: "postgres://app:y@db/rter" });
    expect(c.database.ownerUrl).toBe("postgres://own:x@db/rter");
  });
});
