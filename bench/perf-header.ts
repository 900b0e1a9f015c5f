// What the request edge (wrapHandler: request id, the AsyncLocalStorage timing context behind
// x-rter-performance, metrics, access-log line) costs per request, and how a started process
// holds up under load against a bare Bun.serve. Prints; asserts nothing.
import { buildApp } from "../app/http.ts";
import { wrapHandler } from "../core/http/server.ts";
import { startTestApp } from "../test/support/app.ts";
import { freePort } from "../test/support/net.ts";
import { ROOT, startRter } from "../test/support/rter-process.ts";
import { fmt, getFixture, load, mean, pct, runAlone, table, type Figure } from "./lib.ts";

const WARMUP = 500;
const ROUNDS = 10;
/** ROUNDS × PER_ROUND = 3000 requests per variant. */
const PER_ROUND = 300;
const CLIENTS = 16;
const LOAD_SECONDS = 5;

type Handle = (req: Request) => Promise<Response> | Response;

/** Sequential requests, one at a time; returns each one's µs, body read included (a server reads it too). */
async function timeRequests(h: Handle, url: string, init: RequestInit, n: number, out: number[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const req = new Request(url, init); // built outside the clock: both variants need one
    const t0 = performance.now();
    const res = await h(req);
    await res.arrayBuffer();
    out.push((performance.now() - t0) * 1000);
    if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  }
}

async function inProcess(figures: Figure[]): Promise<void> {
  const fx = await getFixture();
  // startTestApp opens the real modules (Postgres pool, MinIO store) at log level "error".
  // The per-token rate limit would answer 429 long before the sample count: measure the edge, not the limiter.
  const t = await startTestApp({ "database-url": fx.dbUrl, "storage-url": fx.minio.url, roles: "api,web", "rate-limit": "1000000/1s" });
  try {
    // One Elysia app behind both variants, so the only difference is the wrapper.
    const app = buildApp(t.rt, { api: t.api, database: t.api?.database, store: t.api?.store });
    const bare: Handle = (req) => app.handle(req);
    const wrapped = wrapHandler(t.rt, bare);
    const cases: [string, string, RequestInit][] = [
      ["GET /healthz (no db)", "http://rter.test/healthz", {}],
      ["GET /api/v1/auth/me (1 query)", "http://rter.test/api/v1/auth/me", { headers: { authorization: `Bearer ${fx.token}` } }],
    ];
    const rows: (string | number)[][] = [];
    for (const [name, url, init] of cases) {
      const w: number[] = [];
      const b: number[] = [];
      await timeRequests(wrapped, url, init, WARMUP, []);
      await timeRequests(bare, url, init, WARMUP, []);
      // Interleaved rounds, order flipped each round: drift (GC, JIT, a busy neighbour) hits both.
      for (let r = 0; r < ROUNDS; r++) {
        const order: [Handle, number[]][] =
          r % 2
            ? [
                [bare, b],
                [wrapped, w],
              ]
            : [
                [wrapped, w],
                [bare, b],
              ];
        for (const [h, out] of order) await timeRequests(h, url, init, PER_ROUND, out);
      }
      const stat = (xs: number[]) => [fmt(mean(xs)), fmt(pct(xs, 50)), fmt(pct(xs, 99))];
      rows.push([name, "app.handle", ...stat(b), ""]);
      rows.push(["", "wrapHandler", ...stat(w), `${fmt(mean(w) - mean(b))} / ${fmt(pct(w, 50) - pct(b, 50))}`]);
      figures.push({ bench: "perf-header", what: `${name}: wrapHandler overhead (mean)`, value: fmt(mean(w) - mean(b)), unit: "µs" });
    }
    console.log(`\nin process, ${ROUNDS * PER_ROUND} sequential requests per variant after ${WARMUP} warm-up, interleaved in ${ROUNDS} rounds (µs)`);
    table(["request", "variant", "mean", "p50", "p99", "overhead mean / p50"], rows);
  } finally {
    await t.stop();
  }
}

/** A bare Bun.serve (bench/floor-server.ts) started by `bun` on a free port; resolves once it answers. */
async function startFloor(mode: "static" | "pg", dbUrl: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const proc = Bun.spawn(["bun", "bench/floor-server.ts"], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), FLOOR_MODE: mode, DATABASE_URL: dbUrl },
    stdout: "ignore",
    stderr: "inherit",
  });
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 10_000;
  while (
    !(await fetch(url).then(
      () => true,
      () => false,
    ))
  ) {
    if (Date.now() > until || proc.exitCode !== null) throw new Error(`floor server (${mode}) did not start`);
    await Bun.sleep(20);
  }
  return { url, stop: async () => (proc.kill("SIGTERM"), void (await proc.exited)) };
}

async function overHttp(figures: Figure[]): Promise<void> {
  const fx = await getFixture();
  const auth: RequestInit = { headers: { authorization: `Bearer ${fx.token}` } };
  const rows: (string | number)[][] = [];
  let header = "";
  const measure = async (name: string, url: string, init: RequestInit) => {
    await load(url, init, CLIENTS, 1); // warm-up: JIT, pool connections, keep-alive sockets
    const r = await load(url, init, CLIENTS, LOAD_SECONDS);
    rows.push([name, r.n, r.errors, fmt(r.rps, 0), fmt(pct(r.lat, 50), 2), fmt(pct(r.lat, 95), 2), fmt(pct(r.lat, 99), 2)]);
    figures.push({ bench: "perf-header", what: `${name}: req/s (${CLIENTS} clients)`, value: fmt(r.rps, 0), unit: "req/s" });
    figures.push({ bench: "perf-header", what: `${name}: p99`, value: fmt(pct(r.lat, 99), 2), unit: "ms" });
  };

  for (const mode of ["static", "pg"] as const) {
    const f = await startFloor(mode, fx.dbUrl);
    try {
      await measure(
        mode === "static" ? "floor: Bun.serve static JSON" : "floor: Bun.serve + pg, same query",
        mode === "static" ? f.url : `${f.url}/api/v1/auth/me`,
        auth,
      );
    } finally {
      await f.stop();
    }
  }
  // info is the default level (one access-log line per request on stderr); warn shows what that line costs.
  for (const level of ["info", "warn"]) {
    const p = await startRter({ binary: fx.binary, env: { ...fx.env, RTER_LOG_LEVEL: level }, args: ["--roles", "api,web", "--rate-limit", "1000000/1s"] });
    try {
      await p.waitReady(30_000);
      await measure(`rter api,web GET /api/v1/auth/me, log ${level}`, `${p.url}/api/v1/auth/me`, auth);
      // Taken warm, after the load: the first request's figure is dominated by opening a connection.
      header ||= (await fetch(`${p.url}/api/v1/auth/me`, auth)).headers.get("x-rter-performance") ?? "(missing)";
    } finally {
      await p.stop("SIGTERM", 15_000).catch(() => 0);
    }
  }
  console.log(
    `\nover HTTP on 127.0.0.1: ${CLIENTS} keep-alive clients (in this process, sharing the 2 cores) for ${LOAD_SECONDS} s after a 1 s warm-up (latency ms)`,
  );
  table(["server", "requests", "errors", "req/s", "p50", "p95", "p99"], rows);
  console.log(`x-rter-performance of one idle request afterwards: ${header}`);
}

export async function run(): Promise<Figure[]> {
  const figures: Figure[] = [];
  await inProcess(figures);
  await overHttp(figures);
  return figures;
}

if (import.meta.main) await runAlone(run);
