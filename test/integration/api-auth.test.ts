import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { addUser, createToken } from "../../core/auth/auth.service.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { json, startTestApp, type TestApp } from "../support/app.ts";

let app: TestApp;
let minio: TestMinio;
let adminToken: string;
let viewerToken: string;
const PROBLEM = "application/problem+json";

beforeAll(async () => {
  minio = await startMinio();
  app = await startTestApp({ "database-url": await testDatabaseUrl(), "storage-url": minio.url, roles: "api,web", "body-limit": "1MiB" });
  const db = app.rt.database.db;
  await addUser(db, { email: "admin@city.example", role: "admin", password: "correct horse battery" });
  await addUser(db, { email: "viewer@city.example", role: "viewer", password: "viewer password" });
  adminToken = (await createToken(db, { email: "admin@city.example", name: "t", ttlMs: 60_000 })).token;
  viewerToken = (await createToken(db, { email: "viewer@city.example", name: "t", ttlMs: 60_000 })).token;
});
afterAll(async () => {
  await app?.stop();
  await minio?.stop();
});

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
async function expectProblem(res: Response, status: number, detail?: RegExp) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe(PROBLEM);
  const p = (await res.json()) as { status: number; detail: string; title: string; type: string };
  expect(p.status).toBe(status);
  expect(p.title.length).toBeGreaterThan(0);
  expect(JSON.stringify(p)).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/); // no stack traces
  if (detail) expect(p.detail).toMatch(detail);
  return p;
}
async function userCount() {
  const r = await app.rt.database.db
    .selectFrom("users")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

describe("health, status, metrics, openapi", () => {
  test("healthz, readyz, status and metrics answer", async () => {
    expect((await app.request("/healthz")).status).toBe(200);
    const ready = await app.request("/readyz");
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { checks: Record<string, unknown> }).checks).toEqual({ postgres: { ok: true }, storage: { ok: true } });
    const status = (await (await app.request("/api/v1/status")).json()) as Record<string, any>;
    expect(status.postgres.reachable).toBe(true);
    expect(status.storage).toMatchObject({ reachable: true, kind: "s3" });
    expect(status.queue).toMatchObject({ depth: expect.any(Number), failed: expect.any(Number) });
    expect(status.requests.total).toBeGreaterThan(0);
    expect(status.requests.latency_ms.p95).toBeGreaterThanOrEqual(0);
    const metrics = await (await app.request("/metrics")).text();
    expect(metrics).toMatch(/^rter_http_requests_total\{method="GET",status="200"\} \d+$/m);
    expect(metrics).toMatch(/^rter_queue_depth \d+$/m);
    expect(metrics).toMatch(/^rter_http_request_duration_seconds_bucket\{le="\+Inf"\} \d+$/m);
  });

  test("every /api/ response carries x-rter-performance with db and storage time", async () => {
    const status = await app.request("/api/v1/status");
    expect(status.headers.get("x-rter-performance")).toMatch(/^total=\d+\.\dms;db=\d+\.\dms;storage=\d+\.\dms$/);
    const notFound = await app.request("/api/v1/does-not-exist");
    expect(notFound.headers.get("x-rter-performance")).toMatch(/^total=\d+\.\dms/);
    expect((await app.request("/healthz")).headers.get("x-rter-performance")).toBeNull();
  });

  test("openapi document lists the routes", async () => {
    const doc = (await (await app.request("/api/openapi.json")).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/healthz", "/readyz", "/api/v1/status", "/api/v1/auth/login", "/api/v1/auth/me"]));
  });

  test("request ids are echoed when sane and replaced when hostile", async () => {
    expect((await app.request("/healthz", { headers: { "x-request-id": "lb-1234" } })).headers.get("x-request-id")).toBe("lb-1234");
    const hostile = (await app.request("/healthz", { headers: { "x-request-id": "<script>" } })).headers.get("x-request-id")!;
    expect(hostile).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("login and bearer tokens", () => {
  test("login returns a token and an HttpOnly cookie that both work", async () => {
    const res = await app.request("/api/v1/auth/login", json({ email: "admin@city.example", password: "correct horse battery" }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { token: string; user: { role: string } };
    expect(body.user.role).toBe("admin");
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^rter_session=rter_[\w-]+; Path=\/; HttpOnly; SameSite=Strict/);
    expect((await app.request("/api/v1/auth/me", { headers: bearer(body.token) })).status).toBe(200);
    expect((await app.request("/api/v1/auth/me", { headers: { cookie: cookie.split(";")[0]! } })).status).toBe(200);
    // logout revokes the session
    expect((await app.request("/api/v1/auth/logout", { method: "POST", headers: bearer(body.token) })).status).toBe(204);
    await expectProblem(await app.request("/api/v1/auth/me", { headers: bearer(body.token) }), 401);
  });

  test("wrong password and unknown email both get the same 401", async () => {
    const a = await expectProblem(await app.request("/api/v1/auth/login", json({ email: "admin@city.example", password: "nope" })), 401);
    const b = await expectProblem(await app.request("/api/v1/auth/login", json({ email: "nobody@city.example", password: "nope" })), 401);
    expect(a.detail).toBe(b.detail);
  });

  test("missing, malformed, unknown, expired and revoked tokens get 401", async () => {
    await expectProblem(await app.request("/api/v1/auth/me"), 401, /missing/);
    await expectProblem(await app.request("/api/v1/auth/me", { headers: { authorization: "Basic abc" } }), 401, /Bearer/);
    await expectProblem(await app.request("/api/v1/auth/me", { headers: bearer("rter_" + "x".repeat(43)) }), 401);
    await expectProblem(await app.request("/api/v1/auth/me", { headers: bearer("' or 1=1 --") }), 401);
    const db = app.rt.database.db;
    const short = await createToken(db, { email: "admin@city.example", name: "short", ttlMs: 1 });
    await Bun.sleep(20);
    await expectProblem(await app.request("/api/v1/auth/me", { headers: bearer(short.token) }), 401, /expired/);
    const revoked = await createToken(db, { email: "admin@city.example", name: "rev", ttlMs: 60_000 });
    await db.updateTable("api_tokens").set({ revoked_at: new Date() }).where("name", "=", "rev").execute();
    await expectProblem(await app.request("/api/v1/auth/me", { headers: bearer(revoked.token) }), 401);
  });

  test("roles are enforced: a viewer cannot enqueue an admin probe", async () => {
    await expectProblem(await app.request("/api/v1/admin/queue-probes", { method: "POST", headers: bearer(viewerToken) }), 403);
    const ok = await app.request("/api/v1/admin/queue-probes", { method: "POST", headers: bearer(adminToken) });
    expect(ok.status).toBe(201);
    expect(ok.headers.get("x-rter-performance")).toMatch(/queue=\d+\.\dms/);
    const id = ((await ok.json()) as { id: string }).id;
    expect((await app.request(`/api/v1/admin/queue-probes/${id}`, { headers: bearer(adminToken) })).status).toBe(200);
    await expectProblem(await app.request(`/api/v1/admin/queue-probes/${crypto.randomUUID()}`, { headers: bearer(adminToken) }), 404);
    await expectProblem(await app.request("/api/v1/admin/queue-probes/../../etc/passwd", { headers: bearer(adminToken) }), 404);
    await expectProblem(await app.request("/api/v1/admin/queue-probes/1%00", { headers: bearer(adminToken) }), 400);
  });
});

describe("bad input gets a precise 4xx and harms nothing", () => {
  const login = "/api/v1/auth/login";
  const cases: [string, RequestInit, number][] = [
    ["malformed JSON", { method: "POST", headers: { "content-type": "application/json" }, body: "{bad" }, 400],
    ["truncated JSON", { method: "POST", headers: { "content-type": "application/json" }, body: '{"email":"admin@city.exa' }, 400],
    ["empty body", { method: "POST", headers: { "content-type": "application/json" }, body: "" }, 400],
    ["wrong types", json({ email: 42, password: ["x"] }), 400],
    ["missing field", json({ email: "admin@city.example" }), 400],
    ["extra field", json({ email: "admin@city.example", password: "x", admin: true }), 400],
    ["array body", json([1, 2, 3]), 400],
    ["very long email", json({ email: "a".repeat(10_000) + "@x.org", password: "x" }), 400],
    ["very long password", json({ email: "admin@city.example", password: "p".repeat(5_000) }), 400],
    ["SQL injection", json({ email: "admin@city.example' OR '1'='1", password: "' OR '1'='1" }), 401],
    ["NUL and control characters", json({ email: "admin\u0000@city.example", password: "x\u0000" }), 401],
    ["script tags", json({ email: "<script>alert(1)</script>@x.org", password: "x" }), 401],
    ["text/plain", { method: "POST", headers: { "content-type": "text/plain" }, body: "email=a" }, 415],
    ["form encoded", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "email=a&password=b" }, 415],
    [
      "oversized (Content-Length over the limit)",
      json({ email: "a@b.c", password: "x".repeat(2 * 1024 * 1024) }, { headers: { "content-length": String(2 * 1024 * 1024 + 34) } }),
      413,
    ],
    ["invalid Content-Length", { method: "POST", headers: { "content-type": "application/json", "content-length": "-5" }, body: "{}" }, 400],
    ["wrong method", { method: "DELETE" }, 404],
  ];
  for (const [name, init, status] of cases) {
    test(`login: ${name} -> ${status}`, async () => {
      const before = await userCount();
      let req = new Request(`http://rter.test${login}`, init);
      if (name.startsWith("invalid Content-Length")) {
        // fetch would fix the header: build the request the way a hostile client sends it
        const headers = new Headers(init.headers);
        req = new Request(`http://rter.test${login}`, { method: "POST", body: "{}", headers });
        headers.set("content-length", "-5");
        req = new Request(req, { headers });
      }
      const res = await app.request(login, req as RequestInit & Request);
      await expectProblem(res, status);
      expect(await userCount()).toBe(before);
    });
  }

  test("the process survives and still serves after all of the above", async () => {
    expect((await app.request("/healthz")).status).toBe(200);
    const ok = await app.request(login, json({ email: "admin@city.example", password: "correct horse battery" }));
    expect(ok.status).toBe(200);
  });
});
