// Cold start and idle memory of the compiled binary per role set, against the floor of a bare
// Bun.serve. Prints; asserts nothing.
//
// Timing and memory are measured in separate passes. Timed starts run strictly one at a time
// and are stopped at ready, so nothing else competes for the two cores. Idle RSS needs each
// process to sit 3 s after ready; doing that inside the timed pass cost ~2 min, so the memory pass
// staggers the processes instead: the next one starts once the previous is ready, while that one
// idles (RSS is per process and does not depend on an idle neighbour).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { ROOT, startRter } from "../test/support/rter-process.ts";
import { freePort } from "../test/support/net.ts";
import { fmt, getFixture, pct, pollUntil200, rssMiB, runAlone, table, testDatabaseUrl, type Figure } from "./lib.ts";

const STARTS = 5;
/** RSS right at ready still holds start-up garbage; 3 s later is what an idle node costs. */
const SETTLE_MS = 3_000;
const READY_TIMEOUT_MS = 60_000;
const ROLE_SETS = ["api,web", "worker", "api,worker,web", "api"];

/** A started process under test, whatever it is. */
interface Started {
  pid: number;
  listenMs: number;
  readyMs: number;
  output: () => string;
  stop(): Promise<number>;
}
type Starter = () => Promise<Started>;

function rterStarter(binary: string, env: Record<string, string>, roles: string): Starter {
  return async () => {
    const port = await freePort(); // before t0: the clock covers the process, not our port search
    const t0 = performance.now();
    // debug level only adds the handful of "module started" lines the breakdown is read from.
    const p = await startRter({ binary, port, env: { ...env, RTER_LOG_LEVEL: "debug" }, args: ["--roles", roles] });
    try {
      const t = await pollUntil200(`${p.url}/readyz`, t0, READY_TIMEOUT_MS, () => p.proc.exitCode === null);
      return { pid: p.proc.pid, ...t, output: p.output, stop: () => p.stop("SIGTERM", 15_000) };
    } catch (e) {
      p.proc.kill("SIGKILL");
      throw new Error(`${(e as Error).message}\n${p.output().slice(-1500)}`);
    }
  };
}

function floorStarter(cmd: string[]): Starter {
  return async () => {
    const port = await freePort();
    const t0 = performance.now();
    const proc: Subprocess = Bun.spawn(cmd, {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), FLOOR_MODE: "static" },
      stdout: "ignore",
      stderr: "inherit",
    });
    try {
      const t = await pollUntil200(`http://127.0.0.1:${port}/`, t0, READY_TIMEOUT_MS, () => proc.exitCode === null);
      return { pid: proc.pid, ...t, output: () => "", stop: async () => (proc.kill("SIGTERM"), await proc.exited) };
    } catch (e) {
      proc.kill("SIGKILL");
      throw e;
    }
  };
}

/** Module start times ("module started" debug lines) and applied migrations from one run's log. */
function parseLog(out: string): { modules: Record<string, number>; migrations: number } {
  const modules: Record<string, number> = {};
  let migrations = 0;
  for (const line of out.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const e = JSON.parse(line) as { msg?: string; module?: string; ms?: number };
      if (e.msg === "module started" && e.module) modules[e.module] = e.ms ?? Number.NaN;
      if (e.msg === "migration applied") migrations++;
    } catch {
      // not a log line
    }
  }
  return { modules, migrations };
}

interface Timed {
  listenMs: number;
  readyMs: number;
  stopMs: number;
  modules: Record<string, number>;
  migrations: number;
}

/** One isolated cold start: spawn → /readyz 200, then a graceful stop (timed too). */
async function timedStart(start: Starter): Promise<Timed> {
  const s = await start();
  const s0 = performance.now();
  const code = await s.stop();
  if (code !== 0 && code !== 143) throw new Error(`exited ${code} on SIGTERM:\n${s.output().slice(-1500)}`);
  return { listenMs: s.listenMs, readyMs: s.readyMs, stopMs: performance.now() - s0, ...parseLog(s.output()) };
}

/** Staggered memory pass: RSS of each of n processes read SETTLE_MS after its own ready. */
async function idleRss(start: Starter, n: number): Promise<number[]> {
  const reads: Promise<number>[] = [];
  const all: Started[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = await start();
      all.push(s);
      reads.push(Bun.sleep(SETTLE_MS).then(() => rssMiB(s.pid)));
    }
    return await Promise.all(reads);
  } finally {
    await Promise.all(all.map((s) => s.stop().catch(() => 0)));
  }
}

/** Spawn → exit of a command: loading the code and nothing else (no server, no database). */
function loadAndExit(cmd: string[], env: Record<string, string> = {}): number {
  const t0 = performance.now();
  const r = Bun.spawnSync(cmd, { cwd: ROOT, env: { ...process.env, ...env }, stdout: "ignore", stderr: "ignore" });
  if (!r.success) throw new Error(`${cmd.join(" ")} failed`);
  return performance.now() - t0;
}

async function buildFloor(): Promise<string> {
  const out = join(mkdtempSync(join(tmpdir(), "rter-floor-")), "floor");
  const b = Bun.spawnSync(["bun", "build", "--compile", "--minify", "bench/floor-server.ts", "--outfile", out], {
    cwd: ROOT,
    stdout: "ignore",
    stderr: "pipe",
  });
  if (!b.success) throw new Error(`floor build failed: ${b.stderr.toString()}`);
  return out;
}

const p50 = (xs: number[], d = 0) => fmt(pct(xs, 50), d);
function moduleSummary(t: Timed[]): string {
  return Object.keys(t[0]?.modules ?? {})
    .map((m) => `${m}=${p50(t.map((x) => x.modules[m] ?? Number.NaN))}`)
    .join(" ");
}

export async function run(): Promise<Figure[]> {
  const fx = await getFixture();
  const floorBin = await buildFloor();
  const figures: Figure[] = [];
  // What the process costs before it does anything: the runtime plus evaluating all bundled code.
  const loads: [string, string[]][] = [
    ["floor binary (exit at once)", [floorBin]],
    ["bun floor-server.ts (exit at once)", ["bun", "bench/floor-server.ts"]],
    ["rter --version", [fx.binary, "--version"]],
  ];
  const loadRows = loads.map(([name, cmd]) => {
    const ms = Array.from({ length: STARTS }, () => loadAndExit(cmd, { FLOOR_MODE: "exit" }));
    figures.push({ bench: "startup", what: `${name}: spawn → exit p50`, value: p50(ms), unit: "ms" });
    return [name, fmt(Math.min(...ms), 0), p50(ms), fmt(Math.max(...ms), 0)];
  });
  console.log(`\nspawn → exit, n=${STARTS} (loading the code and nothing else)`);
  table(["command", "min ms", "p50", "max"], loadRows);

  const subjects: [string, Starter][] = [
    ["floor: compiled Bun.serve", floorStarter([floorBin])],
    ["floor: bun floor-server.ts", floorStarter(["bun", "bench/floor-server.ts"])],
    ...ROLE_SETS.map((r): [string, Starter] => [`rter --roles ${r}`, rterStarter(fx.binary, fx.env, r)]),
  ];
  const rows: (string | number)[][] = [];
  for (const [name, start] of subjects) {
    const t: Timed[] = [];
    for (let i = 0; i < STARTS; i++) t.push(await timedStart(start));
    const rss = await idleRss(start, STARTS);
    const ready = t.map((x) => x.readyMs);
    rows.push([
      name,
      p50(t.map((x) => x.listenMs)),
      fmt(Math.min(...ready), 0),
      p50(ready),
      fmt(Math.max(...ready), 0),
      p50(rss, 1),
      fmt(Math.max(...rss), 1),
      p50(t.map((x) => x.stopMs)),
      moduleSummary(t),
    ]);
    figures.push({ bench: "startup", what: `${name}: ready p50`, value: p50(ready), unit: "ms" });
    figures.push({ bench: "startup", what: `${name}: idle RSS p50`, value: p50(rss, 1), unit: "MiB" });
  }
  console.log(`\ncold start, n=${STARTS} each, migrated database, MinIO storage;`);
  console.log(
    `listen/ready = spawn → first answer / first 200 of /readyz; RSS = VmRSS ${SETTLE_MS / 1000} s after ready; stop = SIGTERM → exit; modules = p50 start of each module`,
  );
  table(["process", "listen p50", "ready min", "p50", "max", "RSS p50", "RSS max", "stop p50", "modules p50 (ms)"], rows);

  // One start per role set against an empty database: the first start a fresh install sees.
  const empty: (string | number)[][] = [];
  for (const roles of ROLE_SETS) {
    const dbUrl = await testDatabaseUrl(); // created before the clock starts
    const r = await timedStart(rterStarter(fx.binary, { ...fx.env, DATABASE_URL: dbUrl }, roles));
    empty.push([
      `rter --roles ${roles}`,
      fmt(r.listenMs, 0),
      fmt(r.readyMs, 0),
      r.migrations,
      Object.entries(r.modules)
        .map(([k, v]) => `${k}=${v}`)
        .join(" "),
    ]);
    figures.push({ bench: "startup", what: `rter --roles ${roles}: ready, empty DB`, value: fmt(r.readyMs, 0), unit: "ms" });
  }
  console.log("\nfirst start against an EMPTY database (runs every migration; api also creates the first admin)");
  table(["process", "listen ms", "ready ms", "migrations", "modules (ms)"], empty);
  return figures;
}

if (import.meta.main) await runAlone(run);
