import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { authenticate } from "../../core/auth/auth.service.ts";
import { RateLimiter } from "../../core/ratelimit/ratelimit.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { runCli } from "../support/rter-process.ts";
import { bearer, call, createStream, fakeWebm, freshWindow, makeCast, percentile, type Cast } from "../support/security.ts";

// Throttling against the running appliance over real HTTP. The test client is 127.0.0.1, trusted
// as a proxy here, so X-Forwarded-For plays attackers and bystanders at different addresses.

let app: TestApp;
let minio: TestMinio;
let cast: Cast;
let dbUrl: string;

beforeAll(async () => {
  minio = await startMinio();
  dbUrl = await testDatabaseUrl();
  app = await startTestApp({ "database-url": dbUrl, "storage-url": minio.url, roles: "api", "trusted-proxies": "127.0.0.1" });
  cast = await makeCast(app);
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await minio?.stop();
});

function loginFrom(ip: string, email: string, password: string): Promise<Response> {
  return fetch(`${app.url}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": ip },
    body: JSON.stringify({ email, password }),
  });
}

describe("sign-in throttling", () => {
  test("1,000 rapid failed logins: 429s, the account locks, others are served meanwhile, the right password cannot get through", async () => {
    const victim = cast.emails.operator;
    const statuses: number[] = [];
    let missingRetryAfter = 0;
    // A bystander keeps using the API during the attack.
    let stop = false;
    const bystander: { ms: number; status: number }[] = [];
    const watch = (async () => {
      while (!stop) {
        const t0 = performance.now();
        const r = await fetch(`${app.url}/api/v1/streams`, { headers: { ...bearer(cast.tokens.viewer), "x-forwarded-for": "198.51.100.20" } });
        await r.arrayBuffer();
        bystander.push({ ms: performance.now() - t0, status: r.status });
      }
    })();
    const t0 = performance.now();
    for (let i = 0; i < 1000; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, async (_, j) => {
          const r = await loginFrom("203.0.113.66", victim, `guess-${i + j}`);
          statuses.push(r.status);
          if (r.status === 429 && !(Number(r.headers.get("retry-after")) > 0)) missingRetryAfter++;
          await r.arrayBuffer();
        }),
      );
    }
    const floodMs = performance.now() - t0;
    stop = true;
    await watch;

    const n401 = statuses.filter((s) => s === 401).length;
    const n429 = statuses.filter((s) => s === 429).length;
    expect(n401 + n429).toBe(1000);
    // At most --login-max-failures passwords were ever checked before the lock.
    expect(n401).toBeLessThanOrEqual(5);
    expect(missingRetryAfter).toBe(0);
    expect(bystander.length).toBeGreaterThan(5);
    expect(bystander.every((b) => b.status === 200)).toBe(true);
    const p95 = percentile(
      bystander.map((b) => b.ms),
      95,
    );
    expect(p95).toBeLessThan(1_000);

    // The right password, from another address: the account is locked, the password is not even checked.
    const right = await loginFrom("198.51.100.5", victim, cast.password);
    expect(right.status).toBe(429);
    const retry = Number(right.headers.get("retry-after"));
    expect(retry).toBeGreaterThan(540);
    expect(retry).toBeLessThanOrEqual(600);

    const db = app.rt.database.db;
    const audit = await db.selectFrom("audit_log").select(["action"]).where("target_id", "in", [victim, cast.ids.operator]).execute();
    expect(audit.filter((a) => a.action === "login.failed").length).toBe(n401);
    expect(audit.some((a) => a.action === "login.locked")).toBe(true);

    // The status page shows it: 429s of this node, and the locked account.
    const status = (await (await fetch(`${app.url}/api/v1/status`)).json()) as {
      quota: { rate_limited_total: number; locked_accounts: number; active_buckets: number };
    };
    expect(status.quota.rate_limited_total).toBeGreaterThanOrEqual(n429);
    expect(status.quota.locked_accounts).toBe(1);
    expect(status.quota.active_buckets).toBeGreaterThanOrEqual(2);
    expect(await (await fetch(`${app.url}/metrics`)).text()).toMatch(/^rter_accounts_locked 1$/m);

    // An admin lifts the lock; the right password works again.
    expect((await call(app, cast.tokens.admin, "POST", `/api/v1/admin/users/${cast.ids.operator}/unlock`)).status).toBe(200);
    expect((await loginFrom("198.51.100.5", victim, cast.password)).status).toBe(200);
    console.log(
      `1000 failed logins in ${(floodMs / 1000).toFixed(2)} s: ${n401} x 401 (passwords checked), ${n429} x 429; ` +
        `bystander ${bystander.length} requests meanwhile, p50 ${percentile(
          bystander.map((b) => b.ms),
          50,
        ).toFixed(1)} ms, p95 ${p95.toFixed(1)} ms; locked for ${retry} s`,
    );
  }, 120_000);

  test("`rter users unlock` lifts a lockout too", async () => {
    const email = cast.emails.reporter2;
    for (let i = 0; i < 5; i++) expect((await loginFrom("203.0.113.77", email, "wrong password")).status).toBe(401);
    expect((await loginFrom("203.0.113.78", email, cast.password)).status).toBe(429);
    const r = await runCli(["users", "unlock", "--email", email], { DATABASE_URL: dbUrl });
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^unlocked reporter reporter2@city\.example/);
    expect((await loginFrom("203.0.113.78", email, cast.password)).status).toBe(200);
  }, 60_000);

  test("an unknown email locks the same way (the answer tells nothing about which accounts exist)", async () => {
    for (let i = 0; i < 5; i++) expect((await loginFrom("203.0.113.90", "nobody@city.example", "x")).status).toBe(401);
    expect((await loginFrom("203.0.113.91", "nobody@city.example", "x")).status).toBe(429);
  }, 30_000);
});

describe("rate limits per token and per address", () => {
  test("a token's own quota: 429 with Retry-After and the RateLimit headers; other tokens unaffected", async () => {
    const t = (await (
      await call(app, cast.tokens.admin, "POST", "/api/v1/admin/tokens", { email: cast.emails.viewer, name: "tiny", rate_limit_per_minute: 5 })
    ).json()) as { token: string };
    await freshWindow(60, 5);
    const answers: Response[] = [];
    for (let i = 0; i < 7; i++) answers.push(await call(app, t.token, "GET", "/api/v1/auth/me"));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 429, 429]);
    expect(answers[0]!.headers.get("ratelimit-policy")).toBe('"token";q=5;w=60');
    expect(answers[0]!.headers.get("ratelimit")).toMatch(/^"token";r=4;t=\d+$/);
    const over = answers[5]!;
    expect(over.headers.get("content-type")).toBe("application/problem+json");
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(over.headers.get("ratelimit")).toMatch(/^"token";r=0;t=\d+$/);
    expect((await call(app, cast.tokens.viewer, "GET", "/api/v1/auth/me")).status).toBe(200);
  });

  test("a live reporter's chunks fit the default quota: 40 chunks in about a second, none refused", async () => {
    const id = await createStream(app, cast.tokens.reporter, "fast reporter");
    const t0 = performance.now();
    const statuses: number[] = [];
    for (let i = 0; i < 40; i += 10) {
      const batch = await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          fetch(`${app.url}/api/v1/streams/${id}/chunks/${i + j}`, {
            method: "PUT",
            headers: { ...bearer(cast.tokens.reporter), "content-type": "video/webm" },
            body: fakeWebm(64 * 1024, i + j),
          }),
        ),
      );
      statuses.push(...batch.map((r) => r.status));
    }
    const s = (performance.now() - t0) / 1000;
    expect(statuses.every((x) => x === 201)).toBe(true);
    console.log(`40 chunks of 64 KiB in ${s.toFixed(2)} s (${(40 / s).toFixed(0)} chunks/s), all 201`);
  });

  test("anonymous calls are limited per address (120/min by default)", async () => {
    const statuses: number[] = [];
    await freshWindow(60, 10);
    for (let i = 0; i < 130; i++) {
      const r = await fetch(`${app.url}/api/v1/auth/me`, { headers: { "x-forwarded-for": "192.0.2.10" } });
      statuses.push(r.status);
      await r.arrayBuffer();
    }
    expect(statuses.slice(0, 120).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(120).every((s) => s === 429)).toBe(true);
    // Another address is not affected; a forged X-Forwarded-For from an untrusted peer is ignored.
    expect((await fetch(`${app.url}/api/v1/auth/me`, { headers: { "x-forwarded-for": "192.0.2.11" } })).status).toBe(401);
  });
});

describe("one bucket, many requests at once", () => {
  test("300 concurrent hits on one bucket with a limit of 200: exactly 200 pass, each sees its own place in the count", async () => {
    const db = app.rt.database.db;
    const key = `burst:${crypto.randomUUID()}`;
    const node = new RateLimiter();
    const decisions = await Promise.all(Array.from({ length: 300 }, () => node.hit(db, key, { limit: 200, windowSeconds: 3600 })));
    expect(decisions.filter((d) => d.allowed).length).toBe(200);
    // Every request got its own count: remaining runs 199..0 for the allowed ones, once each.
    const remaining = decisions
      .filter((d) => d.allowed)
      .map((d) => d.remaining)
      .sort((a, b) => a - b);
    expect(remaining).toEqual(Array.from({ length: 200 }, (_, i) => i));
    const row = await db.selectFrom("rate_counters").select("hits").where("key", "=", key).executeTakeFirstOrThrow();
    // Requests after the first 429 are answered on this node without counting (it remembers the bucket is over).
    expect(row.hits).toBeGreaterThanOrEqual(201);
    expect(row.hits).toBeLessThanOrEqual(300);
    const other = new RateLimiter();
    const twoNodes = await Promise.all([
      node.hit(db, `${key}:b`, { limit: 5, windowSeconds: 3600 }),
      other.hit(db, `${key}:b`, { limit: 5, windowSeconds: 3600 }),
    ]);
    expect(twoNodes.map((d) => d.remaining).sort()).toEqual([3, 4]);
  });
});

describe("cost per request (printed)", () => {
  test("revocation check and rate-limit counter", async () => {
    const db = app.rt.database.db;
    const login = (await (await loginFrom("198.51.100.50", cast.emails.admin, cast.password)).json()) as { token: string };
    const settings = app.rt.config.security;
    const limiter = new RateLimiter();
    const N = 500;
    // Interleaved rounds, so warm-up and background noise fall on all three alike.
    const fns = {
      session: () => authenticate(db, login.token, settings),
      api: () => authenticate(db, cast.tokens.admin, settings),
      counter: () => limiter.hit(db, "bench:1", { limit: 1_000_000, windowSeconds: 60 }),
    };
    const total = { session: 0, api: 0, counter: 0 };
    for (const f of Object.values(fns)) for (let i = 0; i < 50; i++) await f();
    for (let round = 0; round < N / 50; round++) {
      for (const [k, f] of Object.entries(fns) as [keyof typeof fns, () => Promise<unknown>][]) {
        const t0 = performance.now();
        for (let i = 0; i < 50; i++) await f();
        total[k] += performance.now() - t0;
      }
    }
    const [session, api, counter] = [total.session / N, total.api / N, total.counter / N];
    const edge: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      const r = await call(app, login.token, "GET", "/api/v1/auth/me");
      await r.arrayBuffer();
      edge.push(performance.now() - t0);
    }
    const perf = (await call(app, login.token, "GET", "/api/v1/auth/me")).headers.get("x-rter-performance");
    console.log(
      `per request: session check (HMAC + 1 PK lookup) ${session.toFixed(3)} ms, API token check (1 hash lookup) ${api.toFixed(3)} ms, ` +
        `rate-limit upsert ${counter.toFixed(3)} ms; whole GET /auth/me in process p50 ${percentile(edge, 50).toFixed(2)} ms p95 ${percentile(edge, 95).toFixed(2)} ms (${perf})`,
    );
    expect(session).toBeLessThan(20);
    expect(counter).toBeLessThan(20);
  }, 60_000);
});
