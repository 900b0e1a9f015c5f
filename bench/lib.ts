import { readFileSync } from "node:fs";
import { startMinio, type TestMinio } from "../test/support/minio.ts";
import { testDatabaseUrl } from "../test/support/postgres.ts";
import { buildBinary, runCli } from "../test/support/rter-process.ts";

/** One line of the closing table: which benchmark, what was measured, the figure and its unit. */
export interface Figure {
  bench: string;
  what: string;
  value: string;
  unit: string;
}

/** Sorted-copy percentile (nearest rank): with 5 samples p50 is the 3rd, which is what we want to print. */
export function pct(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
export const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "-");

/** Resident memory of a live process, from the kernel's own accounting (what `top` shows as RES). */
export function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

const NUMERIC = /^(-?[\d.]+( \/ -?[\d.]+)?|-)$/;

/** Prints rows as an aligned text table: columns sized to their widest cell, numbers right-aligned. */
export function table(head: string[], rows: (string | number)[][]): void {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  for (const [i, r] of cells.entries()) {
    console.log(
      r
        .map((c, j) =>
          NUMERIC.test(c) || (i === 0 && j > 0 && cells.slice(1).every((row) => NUMERIC.test(row[j] ?? "-"))) ? c.padStart(w[j]!) : c.padEnd(w[j]!),
        )
        .join("  ")
        .trimEnd(),
    );
    if (i === 0) console.log(w.map((n) => "-".repeat(n)).join("  "));
  }
}

/**
 * Polls until the URL answers 200. Returns ms from `t0` to the first answer of any status (the
 * HTTP server is listening) and to the first 200. A 5 ms poll keeps the quantisation error small
 * without the poller itself eating one of the two cores.
 */
export async function pollUntil200(url: string, t0: number, timeoutMs: number, alive: () => boolean): Promise<{ listenMs: number; readyMs: number }> {
  let listenMs = Number.NaN;
  while (performance.now() - t0 < timeoutMs) {
    if (!alive()) throw new Error(`process exited before ${url} answered 200`);
    const status = await fetch(url, { signal: AbortSignal.timeout(1_000) }).then(
      async (r) => (await r.arrayBuffer(), r.status),
      () => 0,
    );
    const now = performance.now() - t0;
    if (status !== 0 && Number.isNaN(listenMs)) listenMs = now;
    if (status === 200) return { listenMs, readyMs: now };
    await Bun.sleep(5);
  }
  throw new Error(`${url} not 200 within ${timeoutMs} ms`);
}

/**
 * Fires `concurrency` keep-alive clients at one URL for `seconds`, each sending the next request
 * as soon as its last answer is read (closed loop). The client runs in this process and shares
 * the two cores with the server, so figures are relative: compare only runs made the same way.
 */
export async function load(
  url: string,
  init: RequestInit,
  concurrency: number,
  seconds: number,
): Promise<{ n: number; errors: number; rps: number; lat: number[] }> {
  const lat: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const s = performance.now();
        try {
          const r = await fetch(url, init);
          await r.arrayBuffer();
          if (r.status !== 200) errors++;
          lat.push(performance.now() - s);
        } catch {
          errors++;
        }
      }
    }),
  );
  const n = lat.length;
  return { n, errors, rps: n / ((performance.now() - t0) / 1000), lat };
}

/** What every benchmark against the real thing needs: the compiled binary, MinIO, a migrated DB with a user and token. */
export interface Fixture {
  binary: string;
  minio: TestMinio;
  /** Already migrated, with one admin, so a start does no migration and creates no first admin. */
  dbUrl: string;
  email: string;
  password: string;
  token: string;
  env: Record<string, string>;
}

let fixture: Promise<Fixture> | null = null;
let minioStarted: TestMinio | null = null;

/** Built once per `bun run bench`, shared by the benchmarks that run in it. */
export function getFixture(): Promise<Fixture> {
  fixture ??= (async () => {
    const t0 = performance.now();
    const [binary, minio, dbUrl] = await Promise.all([buildBinary(), startMinio(), testDatabaseUrl()]);
    minioStarted = minio;
    const env = { DATABASE_URL: dbUrl, RTER_STORAGE_URL: minio.url };
    const email = "bench@rter.local";
    const password = `load-${crypto.randomUUID()}`; // passes the password rules (length, not a common one)
    const steps: string[][] = [
      ["migrate"],
      ["users", "add", "--email", email, "--role", "admin", "--password", password],
      ["tokens", "create", "--email", email],
    ];
    let token = "";
    for (const args of steps) {
      const r = await runCli(args, env, binary);
      if (r.code !== 0) throw new Error(`rter ${args.join(" ")} failed (${r.code}): ${r.stderr.slice(-1500)}`);
      token = r.stdout.trim().split("\n").at(-1) ?? "";
    }
    console.log(`fixture: binary built, MinIO up, database migrated, user and token created in ${fmt((performance.now() - t0) / 1000)} s`);
    return { binary, minio, dbUrl, email, password, token, env };
  })();
  return fixture;
}

export async function closeFixture(): Promise<void> {
  await minioStarted?.stop().catch(() => {});
}

/** Runs one benchmark file on its own (`bun bench/startup.ts`), then stops the shared fixture. */
export async function runAlone(run: () => Promise<Figure[]>): Promise<void> {
  try {
    await run();
  } finally {
    await closeFixture();
  }
}

export { testDatabaseUrl };
