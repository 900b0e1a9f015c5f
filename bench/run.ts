// `bun run bench [name...]`: runs the benchmarks in sequence (all, or those named), prints each
// one's figures and a closing summary. Figures are printed, never judged: the exit code is
// non-zero only when a benchmark could not run at all.
import { availableParallelism } from "node:os";
import { readFileSync } from "node:fs";
import { closeFixture, fmt, table, type Figure } from "./lib.ts";

/** Imported lazily so `bun run bench startup` does not load what it will not run. */
const BENCHMARKS: Record<string, { about: string; load: () => Promise<{ run: () => Promise<Figure[]> }> }> = {
  startup: { about: "cold start → /readyz and idle RSS per role set, vs a bare Bun.serve", load: () => import("./startup.ts") },
  ingest: {
    about:
      "CMAF: PUT → listed (LL-HLS blocking reload) and CPU per stream for N phones vs a MinIO PUT + INSERT floor; classic: chunk → playlist for N reporters vs plain ffmpeg",
    load: async () => {
      const [cmaf, classic] = await Promise.all([import("./ingest-cmaf.ts"), import("./ingest.ts")]);
      return { run: async () => [...(await cmaf.run()), ...(await classic.run())] };
    },
  },
  events: { about: "events/s and fan-out latency to 200 SSE clients across two API nodes", load: () => import("./events.ts") },
  "perf-header": { about: "cost of the x-rter-performance edge in process, and HTTP load vs a bare Bun.serve", load: () => import("./perf-header.ts") },
  refused: {
    about:
      "bystander p99 on a 4-connection pool while refused requests of each kind (used invite, wrong password, forged token, forbidden, reused Idempotency-Key, delete under hold) arrive",
    load: () => import("./refused.ts"),
  },
  hostile: {
    about: "bystander p99 of /healthz and an authenticated GET, quiet and while each family of pathological JSON bodies hits every JSON route",
    load: () => import("./hostile.ts"),
  },
  "glass-to-glass": {
    about: "Chromium films a clock (canvas barcode) → operator console <video>: p50/p95 for the CMAF/LL-HLS and MediaRecorder paths",
    load: () => import("./glass-to-glass.ts"),
  },
  "audit-chain": { about: "audit inserts/s and latency with the hash chain, vs plain inserts into the same table", load: () => import("./audit-chain.ts") },
  search: {
    about: "item search (full text, bounds, time, reporter, kind, tag, pages) and timeline pages at 100k items, 1k streams",
    load: () => import("./search.ts"),
  },
};

/** Other work on the same two cores moves every figure; the load average says how much. */
const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

const names = process.argv.slice(2);
const unknown = names.filter((n) => !(n in BENCHMARKS));
if (unknown.length) {
  console.error(`unknown benchmark ${unknown.join(", ")}; known: ${Object.keys(BENCHMARKS).join(", ")}`);
  process.exit(2);
}
const selected = names.length ? names : Object.keys(BENCHMARKS);

console.log(`rter benchmarks — bun ${Bun.version}, ${availableParallelism()} cores, load average ${loadavg()}`);
const figures: Figure[] = [];
const failed: string[] = [];
const t0 = performance.now();
for (const name of selected) {
  const b = BENCHMARKS[name]!;
  console.log(`\n=== ${name}: ${b.about} ===`);
  const s0 = performance.now();
  try {
    figures.push(...(await (await b.load()).run()));
  } catch (e) {
    failed.push(name);
    console.error(`\n${name} could not run: ${(e as Error).stack ?? e}`);
  }
  console.log(`(${name} took ${fmt((performance.now() - s0) / 1000)} s; load average now ${loadavg()})`);
}
await closeFixture();

console.log(`\n=== summary (${fmt((performance.now() - t0) / 1000)} s in all) ===`);
table(
  ["benchmark", "figure", "value", "unit"],
  figures.map((f) => [f.bench, f.what, f.value, f.unit]),
);
if (failed.length) console.error(`\ncould not run: ${failed.join(", ")}`);
// Explicit exit: pools and timers of the libraries under test must not keep the runner alive.
process.exit(failed.length ? 1 : 0);
