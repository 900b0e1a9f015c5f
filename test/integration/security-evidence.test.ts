import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import pg from "pg";
import { sweepRetention } from "../../core/retention/retention.service.ts";
import { run as runRetentionJob } from "../../workers/tasks/retention_sweep.ts";
import { json, startTestApp, type TestApp } from "../support/app.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { bearer, call, createStream, makeCast, objectsUnder, putChunk, type Cast } from "../support/security.ts";

let app: TestApp;
let minio: TestMinio;
let cast: Cast;
let dbUrl: string;
let held: string;

beforeAll(async () => {
  minio = await startMinio();
  dbUrl = await testDatabaseUrl();
  app = await startTestApp({
    "database-url": dbUrl,
    "storage-url": minio.url,
    roles: "api",
    "cors-origins": "https://dashboard.city.example",
    "public-url": "https://rter.city.example",
  });
  cast = await makeCast(app);
  held = await createStream(app, cast.tokens.reporter, "evidence");
  for (let i = 0; i < 3; i++) expect((await putChunk(app, cast.tokens.reporter, held, i)).status).toBe(201);
  expect(
    (await call(app, cast.tokens.reporter, "POST", `/api/v1/streams/${held}/telemetry`, { samples: [{ t: Date.now(), lat: 45.5, lng: -73.6 }] })).status,
  ).toBe(200);
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await minio?.stop();
});

/** A direct connection with the application's own credentials, as a person with the database URL would open. */
async function directSql<T = unknown>(text: string, params: unknown[] = []): Promise<{ ok: true; rows: T[] } | { ok: false; code: string; message: string }> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const r = await c.query(text, params);
    return { ok: true, rows: r.rows as T[] };
  } catch (e) {
    return { ok: false, code: (e as { code: string }).code, message: (e as Error).message };
  } finally {
    await c.end();
  }
}

describe("legal hold", () => {
  test("a held stream cannot be deleted by any role, by the retention job, or by direct SQL", async () => {
    const placed = await call(app, cast.tokens.operator, "POST", `/api/v1/streams/${held}/hold`, { reason: "case 2026-1142, court order" });
    expect(placed.status).toBe(201);
    expect((await call(app, cast.tokens.operator, "POST", `/api/v1/streams/${held}/hold`, { reason: "again" })).status).toBe(409);
    const objects = await objectsUnder(app, `streams/${held}/`);
    expect(objects.length).toBe(3);

    const answers: Record<string, number> = {};
    for (const who of ["admin", "operator", "reporter", "viewer"] as const)
      answers[who] = (await call(app, cast.tokens[who], "DELETE", `/api/v1/streams/${held}`)).status;
    expect(answers).toEqual({ admin: 409, operator: 403, reporter: 403, viewer: 403 });

    // The retention job: even with everything expired, the held stream is skipped.
    expect((await call(app, cast.tokens.reporter, "POST", `/api/v1/streams/${held}/finish`)).status).toBe(200);
    const sweep = await sweepRetention({ db: app.rt.database.db, store: app.rt.store, log: app.rt.log }, 1, 50);
    expect(sweep.deleted).toBe(0);

    // Straight into the database with the application's credentials.
    for (const stmt of [
      `delete from streams where id = '${held}'`,
      `delete from chunks where stream_id = '${held}'`,
      `delete from telemetry where stream_id = '${held}'`,
      "truncate chunks cascade",
      "truncate streams cascade",
    ]) {
      const r = await directSql(stmt);
      expect(`${stmt}: ${r.ok ? "ok" : r.code}`).toBe(`${stmt}: RTH01`);
    }
    // A hold record cannot be removed or rewritten either.
    const hid = ((await placed.json()) as { id: string }).id;
    expect(await directSql(`delete from legal_holds where id = '${hid}'`)).toMatchObject({ ok: false, code: "RTH01" });
    expect(await directSql(`update legal_holds set reason = 'nothing to see' where id = '${hid}'`)).toMatchObject({ ok: false, code: "RTH01" });

    expect((await call(app, cast.tokens.viewer, "GET", `/api/v1/streams/${held}`)).status).toBe(200);
    expect((await objectsUnder(app, `streams/${held}/`)).length).toBe(3);
    const holds = (await (await call(app, cast.tokens.operator, "GET", "/api/v1/admin/holds")).json()) as { stream_id: string }[];
    expect(holds.map((h) => h.stream_id)).toContain(held);
  });

  test("only an admin releases it; then the admin's delete removes rows and objects, audited", async () => {
    expect((await call(app, cast.tokens.operator, "DELETE", `/api/v1/streams/${held}/hold`)).status).toBe(403);
    const released = await call(app, cast.tokens.admin, "DELETE", `/api/v1/streams/${held}/hold?reason=${encodeURIComponent("case closed")}`);
    expect(released.status).toBe(200);
    expect(((await released.json()) as { released_at: string | null }).released_at).not.toBeNull();
    expect((await call(app, cast.tokens.admin, "DELETE", `/api/v1/streams/${held}`)).status).toBe(204);
    expect((await call(app, cast.tokens.admin, "GET", `/api/v1/streams/${held}`)).status).toBe(404);
    expect(await objectsUnder(app, `streams/${held}/`)).toEqual([]);
    const db = app.rt.database.db;
    expect((await db.selectFrom("chunks").select("seq").where("stream_id", "=", held).execute()).length).toBe(0);
    // The hold's history outlives the stream.
    expect((await db.selectFrom("legal_holds").select("id").where("stream_id", "=", held).execute()).length).toBe(1);
    const audit = (await (await call(app, cast.tokens.admin, "GET", `/api/v1/admin/audit?target_id=${held}&limit=100`)).json()) as {
      entries: { action: string; actor_email: string | null }[];
    };
    const actions = audit.entries.map((e) => e.action);
    for (const a of ["chunk.stored", "hold.placed", "stream.delete_refused", "hold.released", "stream.deleted"]) expect(actions).toContain(a);
    expect(audit.entries.find((e) => e.action === "stream.deleted")?.actor_email).toBe(cast.emails.admin);
  });

  test("retention deletes expired streams that are not held; per-stream keep_days wins", async () => {
    const db = app.rt.database.db;
    const deps = { db, store: app.rt.store, log: app.rt.log };
    const mk = async (title: string) => {
      const id = await createStream(app, cast.tokens.reporter, title);
      expect((await putChunk(app, cast.tokens.reporter, id, 0)).status).toBe(201);
      expect((await call(app, cast.tokens.reporter, "POST", `/api/v1/streams/${id}/finish`)).status).toBe(200);
      await sql`update streams set finished_at = now() - interval '40 days' where id = ${id}`.execute(db);
      return id;
    };
    const expired = await mk("old");
    const keptForever = await mk("kept");
    const onHold = await mk("held");
    expect((await call(app, cast.tokens.admin, "PUT", `/api/v1/streams/${keptForever}/retention`, { keep_days: null })).status).toBe(200);
    expect((await call(app, cast.tokens.admin, "POST", `/api/v1/streams/${onHold}/hold`, { reason: "inquiry" })).status).toBe(201);
    await runRetentionJob(deps, 30 * 86_400_000, {});
    const left = (await db.selectFrom("streams").select("id").where("id", "in", [expired, keptForever, onHold]).execute()).map((r) => r.id);
    expect(left.sort()).toEqual([keptForever, onHold].sort());
    expect(await objectsUnder(app, `streams/${expired}/`)).toEqual([]);
    expect((await objectsUnder(app, `streams/${onHold}/`)).length).toBe(1);
    const rec = await db
      .selectFrom("audit_log")
      .select(["action", "actor_id"])
      .where("target_id", "=", expired)
      .where("action", "=", "retention.deleted")
      .executeTakeFirst();
    expect(rec).toEqual({ action: "retention.deleted", actor_id: null });
  });
});

describe("audit trail", () => {
  test("views are recorded once per user and stream per few minutes, with who and from where", async () => {
    const id = await createStream(app, cast.tokens.reporter, "watched");
    for (let i = 0; i < 5; i++)
      expect(
        (await app.request(`/api/v1/streams/${id}/hls/index.m3u8`, { headers: { ...bearer(cast.tokens.viewer), "user-agent": "wall-display/1.0" } })).status,
      ).toBe(200);
    expect((await call(app, cast.tokens.operator, "GET", `/api/v1/streams/${id}/hls/index.m3u8`)).status).toBe(200);
    const page = (await (await call(app, cast.tokens.admin, "GET", `/api/v1/admin/audit?action=stream.viewed&target_id=${id}`)).json()) as {
      entries: { actor_email: string; ip: string; user_agent: string }[];
    };
    expect(page.entries.map((e) => e.actor_email).sort()).toEqual([cast.emails.operator, cast.emails.viewer].sort());
    const v = page.entries.find((e) => e.actor_email === cast.emails.viewer)!;
    expect(v.ip).toBe("127.0.0.1");
    expect(v.user_agent).toBe("wall-display/1.0");
  });

  test("logins, failed logins, token and role changes, invite use are recorded; paging and prefix filters work", async () => {
    await app.request("/api/v1/auth/login", json({ email: cast.emails.viewer, password: "wrong" }));
    await app.request("/api/v1/auth/login", json({ email: cast.emails.viewer, password: cast.password }));
    const inv = (await (await call(app, cast.tokens.operator, "POST", "/api/v1/invites", {})).json()) as { token: string };
    await app.request("/api/v1/invites/accept", json({ token: inv.token }));
    await call(app, cast.tokens.admin, "POST", "/api/v1/admin/tokens", { email: cast.emails.viewer, name: "kiosk" });
    const all = (await (await call(app, cast.tokens.admin, "GET", "/api/v1/admin/audit?limit=1000")).json()) as { entries: { id: string; action: string }[] };
    const actions = new Set(all.entries.map((e) => e.action));
    for (const a of ["login", "login.failed", "invite.created", "invite.accepted", "token.created", "chunk.stored", "stream.viewed"])
      expect(actions).toContain(a);
    const logins = (await (await call(app, cast.tokens.admin, "GET", "/api/v1/admin/audit?action=login.")).json()) as { entries: { action: string }[] };
    expect(logins.entries.every((e) => e.action.startsWith("login."))).toBe(true);
    const p1 = (await (await call(app, cast.tokens.admin, "GET", "/api/v1/admin/audit?limit=2")).json()) as { entries: { id: string }[]; next_before: string };
    const p2 = (await (await call(app, cast.tokens.admin, "GET", `/api/v1/admin/audit?limit=2&before=${p1.next_before}`)).json()) as {
      entries: { id: string }[];
    };
    expect(BigInt(p2.entries[0]!.id)).toBeLessThan(BigInt(p1.entries[1]!.id) + 1n);
  }, 30_000);

  test("exports as NDJSON and CSV, and the export is itself recorded", async () => {
    const nd = await call(app, cast.tokens.admin, "GET", "/api/v1/admin/audit/export?format=ndjson&action=chunk.stored");
    expect(nd.status).toBe(200);
    expect(nd.headers.get("content-disposition")).toMatch(/^attachment; filename="rter-audit-.*\.ndjson"$/);
    const lines = (await nd.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { action: string; detail: { sha256: string } });
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.every((l) => l.action === "chunk.stored" && /^[0-9a-f]{64}$/.test(l.detail.sha256))).toBe(true);
    const csv = await (await call(app, cast.tokens.admin, "GET", "/api/v1/admin/audit/export?format=csv")).text();
    expect(csv.split("\r\n")[0]).toBe("id,at,actor_id,actor_email,actor_role,token_id,action,target_type,target_id,ip,user_agent,request_id,detail,seq,hash");
    const exported = (await (await call(app, cast.tokens.admin, "GET", "/api/v1/admin/audit?action=audit.exported")).json()) as { entries: unknown[] };
    expect(exported.entries.length).toBe(2);
  });

  test("UPDATE, DELETE and TRUNCATE fail even through a direct connection with the application's credentials", async () => {
    const before = await directSql<{ n: string }>("select count(*) as n from audit_log");
    expect(before.ok).toBe(true);
    for (const stmt of [
      "update audit_log set action = 'nothing happened'",
      "delete from audit_log",
      "truncate audit_log",
      "delete from audit_log where id = (select min(id) from audit_log)",
    ]) {
      const r = await directSql(stmt);
      expect(`${stmt}: ${r.ok ? "ok" : r.code}`).toBe(`${stmt}: RTA01`);
    }
    const after = await directSql<{ n: string }>("select count(*) as n from audit_log");
    expect(after).toEqual(before);
    // Through the application's own query builder, too.
    const r = await app.rt.database.db
      .deleteFrom("audit_log")
      .execute()
      .then(
        () => "deleted",
        (e: { code: string }) => e.code,
      );
    expect(r).toBe("RTA01");
  });

  type Verdict = { ok: boolean; entries: number; first_bad_seq: string | null; head_hash: string | null };
  const verify = async () => (await (await call(app, cast.tokens.admin, "GET", "/api/v1/admin/audit/verify")).json()) as Verdict;

  test("the trail is a hash chain: 40 concurrent writers keep it whole, and each export line carries its link", async () => {
    const id = await createStream(app, cast.tokens.reporter, "busy");
    // Chunks from two reporters and views at once: every one an audit entry, all racing for the chain.
    const other = await createStream(app, cast.tokens.reporter2, "busy too");
    const answers = await Promise.all([
      ...Array.from({ length: 15 }, (_, i) => putChunk(app, cast.tokens.reporter, id, i).then((r) => r.status)),
      ...Array.from({ length: 15 }, (_, i) => putChunk(app, cast.tokens.reporter2, other, i).then((r) => r.status)),
      ...Array.from({ length: 10 }, () =>
        app.request("/api/v1/auth/login", json({ email: `nobody${Math.random()}@city.example`, password: "wrong guess" })).then((r) => r.status),
      ),
    ]);
    expect(answers.filter((s) => s === 201).length).toBe(30);
    const v = await verify();
    expect(v).toMatchObject({ ok: true, first_bad_seq: null });
    expect(v.entries).toBeGreaterThan(40);
    expect(v.head_hash).toMatch(/^[0-9a-f]{64}$/);
    const lines = (await (await call(app, cast.tokens.admin, "GET", "/api/v1/admin/audit/export?format=ndjson")).text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { seq: string; hash: string });
    const seqs = lines.map((l) => Number(l.seq)).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(lines.some((l) => l.hash === v.head_hash)).toBe(true);
  });

  test("a row changed or removed behind the triggers' back (by the table owner) is found, and named", async () => {
    const head = (await verify()).head_hash;
    // The owner can switch the guard off; the chain still tells.
    const victim = await directSql<{ seq: string }>("select seq::text from audit_log where action = 'chunk.stored' order by seq limit 1 offset 2");
    expect(victim.ok).toBe(true);
    const seq = (victim as { rows: { seq: string }[] }).rows[0]!.seq;
    expect(await directSql("alter table audit_log disable trigger audit_log_no_change")).toMatchObject({ ok: true });
    expect(await directSql(`update audit_log set detail = detail || '{"forged": 1}' where seq = ${seq}`)).toMatchObject({ ok: true });
    let v = await verify();
    expect(v).toMatchObject({ ok: false, first_bad_seq: seq });
    // Undo the change by hand: whole again. Then a removal in the middle: found at the gap.
    expect(await directSql(`update audit_log set detail = detail - 'forged' where seq = ${seq}`)).toMatchObject({ ok: true });
    expect((await verify()).ok).toBe(true);
    expect(await directSql(`delete from audit_log where seq = ${Number(seq) + 1}`)).toMatchObject({ ok: true });
    expect(await directSql("alter table audit_log enable trigger audit_log_no_change")).toMatchObject({ ok: true });
    v = await verify();
    expect(v).toMatchObject({ ok: false, first_bad_seq: String(Number(seq) + 2) });
    expect(v.head_hash).not.toBe(head);
    const recorded = (await (await call(app, cast.tokens.admin, "GET", "/api/v1/admin/audit?action=audit.verified&limit=1")).json()) as {
      entries: { detail: Verdict }[];
    };
    expect(recorded.entries[0]!.detail.ok).toBe(false);
  });
});

describe("response hardening", () => {
  test("security headers, HSTS behind https, CORS only for the allow-list and never with credentials", async () => {
    const res = await call(app, cast.tokens.viewer, "GET", "/api/v1/auth/me", undefined, { origin: "https://dashboard.city.example" });
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(res.headers.get("strict-transport-security")).toBe("max-age=31536000");
    expect(res.headers.get("access-control-allow-origin")).toBe("https://dashboard.city.example");
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    const other = await call(app, cast.tokens.viewer, "GET", "/api/v1/auth/me", undefined, { origin: "https://evil.example" });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    const pre = await app.request("/api/v1/streams", {
      method: "OPTIONS",
      headers: {
        origin: "https://dashboard.city.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-methods")).toContain("POST");
    const page = await app.request("/no-such-page");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    // The login cookie is Secure behind https.
    const login = await app.request("/api/v1/auth/login", json({ email: cast.emails.viewer, password: cast.password }));
    expect(login.headers.get("set-cookie")).toMatch(/; Secure$/);
  });

  test("oversized headers are refused with 431", async () => {
    const res = await app.request("/api/v1/auth/me", { headers: { ...bearer(cast.tokens.viewer), "x-padding": "a".repeat(20_000) } });
    expect(res.status).toBe(431);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
  });
});
