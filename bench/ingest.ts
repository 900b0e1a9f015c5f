// bench ingest: N synthetic reporters pace real-time 720p chunks into a running api node and one
// worker node (both the compiled binary), for codecs that remux and codecs that need a
// transcode, with 1 s and 2 s chunks. Prints chunk-received → segment-listed latency
// percentiles (from the database clocks), chunks/s, worker CPU per stream-second, peak RSS, and
// plain ffmpeg doing the same conversion of one chunk as the floor, and our CPU per chunk against
// it (issue 10's goal: ≤ 1.3×). The largest N whose p95 stays under the chunk duration is the
// capacity figure. While others share the machine, keep it small:
//   RTER_BENCH_INGEST_ONLY="remux 1s,transcode 1s" RTER_BENCH_INGEST_NS=1 bun bench/ingest.ts
// BENCH_CPU_PROF_DIR=/tmp/prof runs the worker from source under `bun --cpu-prof-md` (profile written when it stops).
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { Client as MinioClient } from "minio";
import { startRter, type RterProcess } from "../test/support/rter-process.ts";
import { contentTypeOf, makeChunks, type ChunkKind } from "../test/support/media.ts";
import { fmt, getFixture, pct, runAlone, table, type Figure } from "./lib.ts";

const TICK_MS = 1000 / 100; // /proc clock ticks (USER_HZ) are 100 per second on Linux

/** utime+stime of the process and its reaped children (the ffmpeg runs), in ms. */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS;
}
/** cutime+cstime alone: the reaped children (ffmpeg), in ms. */
function childCpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[13]) + Number(f[14])) * TICK_MS;
}
function peakRssMiB(pid: number): number {
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

interface Scenario {
  name: string;
  kind: ChunkKind;
  seconds: number;
  ns: number[];
  /** The plain ffmpeg command that does what our worker does, for the floor. */
  floor: string[];
}

const SCENARIOS: Scenario[] = [
  { name: "remux 1s (H.264/AAC TS)", kind: "ts-h264-aac", seconds: 1, ns: [1, 4, 10, 16], floor: ["-c", "copy", "-f", "mpegts"] },
  { name: "remux 2s (H.264/AAC TS)", kind: "ts-h264-aac", seconds: 2, ns: [1, 10], floor: ["-c", "copy", "-f", "mpegts"] },
  {
    name: "transcode 1s (VP8/Opus WebM)",
    kind: "webm-vp8-opus",
    seconds: 1,
    ns: [1, 2, 3],
    floor: ["-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", "-f", "mpegts"],
  },
  {
    name: "transcode 2s (VP8/Opus WebM)",
    kind: "webm-vp8-opus",
    seconds: 2,
    ns: [1, 2],
    floor: ["-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", "-f", "mpegts"],
  },
];
const CHUNKS_PER_STREAM = 6;

/** Scenario names to run (prefixes, comma-separated) and N to use instead of each scenario's list. */
const ONLY = process.env.RTER_BENCH_INGEST_ONLY?.split(",")
  .map((x) => x.trim())
  .filter(Boolean);
const NS = process.env.RTER_BENCH_INGEST_NS?.split(",")
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 0);

async function floorCost(chunk: Uint8Array, args: string[]): Promise<{ wallMs: number; cpuMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), "rter-floor-"));
  try {
    const input = join(dir, "in");
    writeFileSync(input, chunk);
    const t0 = performance.now();
    const p = Bun.spawn(["ffmpeg", "-v", "error", "-y", "-i", input, ...args, join(dir, "out.ts")], { stderr: "pipe" });
    await p.exited;
    const ru = p.resourceUsage();
    return { wallMs: performance.now() - t0, cpuMs: ru ? (Number(ru.cpuTime.user) + Number(ru.cpuTime.system)) / 1000 : Number.NaN };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function reporter(api: RterProcess, token: string, chunks: Uint8Array<ArrayBuffer>[], kind: ChunkKind, seconds: number): Promise<string> {
  const h = { authorization: `Bearer ${token}` };
  const r = await fetch(`${api.url}/api/v1/streams`, { method: "POST", headers: { ...h, "content-type": "application/json" }, body: '{"title":"bench"}' });
  const { id } = (await r.json()) as { id: string };
  const t0 = Date.now();
  for (let i = 0; i < CHUNKS_PER_STREAM; i++) {
    // A recorder hands over chunk i once it has been captured: pace to real time.
    const due = t0 + (i + 1) * seconds * 1000;
    if (due > Date.now()) await Bun.sleep(due - Date.now());
    const res = await fetch(`${api.url}/api/v1/streams/${id}/chunks/${i}`, {
      method: "PUT",
      headers: { ...h, "content-type": contentTypeOf(kind), "x-chunk-start": String(due - seconds * 1000) },
      body: chunks[i % chunks.length],
    });
    if (res.status !== 201) throw new Error(`chunk ${i}: ${res.status} ${await res.text()}`);
  }
  return id;
}

/**
 * Serving segments: through the API node (auth, stat, stream from storage) versus a redirect to a
 * presigned object-storage URL, whose cost is the client's extra round trip to storage. Measured
 * as sequential fetches of one real segment.
 */
async function segmentDelivery(api: RterProcess, fx: Awaited<ReturnType<typeof getFixture>>, db: pg.Client, figures: Figure[]): Promise<void> {
  const { rows } = await db.query("select stream_id, seq, object_key, size from segments order by created_at desc limit 1");
  const seg = rows[0];
  if (!seg) return;
  const m = fx.minio;
  const client = new MinioClient({ endPoint: m.endPoint, port: m.port, useSSL: false, accessKey: m.accessKey, secretKey: m.secretKey, region: "us-east-1" });
  const timeIt = async (fetchOnce: () => Promise<Response>) => {
    const lat: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      const r = await fetchOnce();
      await r.arrayBuffer();
      if (i >= 20) lat.push(performance.now() - t0);
    }
    return lat;
  };
  const viaApi = await timeIt(() =>
    fetch(`${api.url}/api/v1/streams/${seg.stream_id}/hls/segments/${seg.seq}.ts`, { headers: { authorization: `Bearer ${fx.token}` } }),
  );
  const presigned = await client.presignedGetObject(m.bucket, seg.object_key, 600);
  // The redirect path: the API would answer 302 after its auth check, then the client fetches storage.
  const viaRedirect = await timeIt(async () => {
    await (await fetch(`${api.url}/api/v1/streams/${seg.stream_id}`, { headers: { authorization: `Bearer ${fx.token}` } })).arrayBuffer();
    return fetch(presigned);
  });
  const direct = await timeIt(() => fetch(presigned));
  console.log(`\nsegment delivery (${seg.size} bytes, 180 sequential fetches)   p50 ms  p95 ms`);
  for (const [name, lat] of [
    ["through the API node", viaApi],
    ["API auth round trip + presigned GET", viaRedirect],
    ["presigned GET alone (floor)", direct],
  ] as const) {
    console.log(`  ${name.padEnd(38)} ${fmt(pct(lat, 50), 2).padStart(6)}  ${fmt(pct(lat, 95), 2).padStart(6)}`);
  }
  figures.push({
    bench: "ingest",
    what: "segment via API / via auth+presigned, p50",
    value: `${fmt(pct(viaApi, 50), 2)} / ${fmt(pct(viaRedirect, 50), 2)}`,
    unit: "ms",
  });
}

export async function run(): Promise<Figure[]> {
  const fx = await getFixture();
  const figures: Figure[] = [];
  const api = await startRter({ binary: fx.binary, env: { ...fx.env, RTER_LOG_LEVEL: "warn" }, args: ["--roles", "api"] });
  // BENCH_CPU_PROF_DIR: the worker runs from source under Bun's profiler (a .md profile per run there).
  const worker = await startRter({
    binary: fx.binary,
    env: { ...fx.env, RTER_LOG_LEVEL: "warn", RTER_WORKER_CONCURRENCY: "2" },
    args: ["--roles", "worker"],
    ...(process.env.BENCH_CPU_PROF_DIR ? { bunFlags: ["--cpu-prof-md", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`] } : {}),
  });
  const db = new pg.Client({ connectionString: fx.dbUrl });
  try {
    await Promise.all([api.waitReady(), worker.waitReady()]);
    await db.connect();
    // What an idle worker burns anyway (heartbeats, liveness sweeps, queue polling), per second:
    // at N=1 it lands on one chunk a second, and the table's per-chunk figure includes it.
    const idle0 = cpuMs(worker.proc.pid);
    await Bun.sleep(5_000);
    const idlePerSec = (cpuMs(worker.proc.pid) - idle0) / 5;
    console.log(`idle worker: ${fmt(idlePerSec, 1)} ms CPU per second`);
    figures.push({ bench: "ingest", what: "idle worker CPU", value: fmt(idlePerSec, 1), unit: "ms/s" });
    const rows: (string | number)[][] = [];
    for (const sc of SCENARIOS.filter((x) => !ONLY?.length || ONLY.some((o) => x.name.startsWith(o)))) {
      const chunks = await makeChunks(sc.kind, CHUNKS_PER_STREAM, sc.seconds, "1280x720");
      // Median of three chunks: one ffmpeg start is noisy on a shared machine.
      const runs = [];
      for (const c of chunks.slice(1, 4)) runs.push(await floorCost(c, sc.floor));
      const floor = {
        cpuMs: pct(
          runs.map((r) => r.cpuMs),
          50,
        ),
        wallMs: pct(
          runs.map((r) => r.wallMs),
          50,
        ),
      };
      let capacity = 0;
      for (const n of NS?.length ? NS : sc.ns) {
        const cpu0 = cpuMs(worker.proc.pid);
        const child0 = childCpuMs(worker.proc.pid);
        const t0 = performance.now();
        const ids = await Promise.all(Array.from({ length: n }, () => reporter(api, fx.token, chunks, sc.kind, sc.seconds)));
        const want = n * CHUNKS_PER_STREAM;
        let lat: number[] = [];
        for (let i = 0; i < 600; i++) {
          const q = await db.query(
            "select extract(epoch from s.created_at - c.received_at) * 1000 as ms from segments s join chunks c using (stream_id, seq) where s.stream_id = any($1)",
            [ids],
          );
          lat = q.rows.map((r) => Number(r.ms));
          const failed = await db.query("select count(*)::int n from chunks where stream_id = any($1) and state = 'failed'", [ids]);
          if (lat.length + failed.rows[0].n >= want) break;
          await Bun.sleep(250);
        }
        const wall = (performance.now() - t0) / 1000;
        const workerCpuMs = cpuMs(worker.proc.pid) - cpu0;
        const cpuPerStreamSec = workerCpuMs / 1000 / (want * sc.seconds);
        // Everything the worker spent (jobs, posters, queue, storage, its ffmpeg children) per chunk,
        // against plain ffmpeg converting one such chunk from a local file.
        const perChunk = workerCpuMs / want;
        const ffmpegPerChunk = (childCpuMs(worker.proc.pid) - child0) / want;
        const p95 = pct(lat, 95);
        if (lat.length === want && p95 < sc.seconds * 1000) capacity = n;
        rows.push([
          sc.name,
          n,
          lat.length,
          fmt(pct(lat, 50), 0),
          fmt(p95, 0),
          fmt(pct(lat, 99), 0),
          fmt(want / wall, 2),
          fmt(cpuPerStreamSec, 3),
          fmt(floor.cpuMs / 1000 / sc.seconds, 3),
          fmt(perChunk, 0),
          fmt(ffmpegPerChunk, 0),
          fmt(floor.cpuMs, 0),
          fmt(perChunk / floor.cpuMs, 2),
          fmt(floor.wallMs, 0),
        ]);
        figures.push({
          bench: "ingest",
          what: `${sc.name}, N=${n}: worker CPU per chunk / plain ffmpeg`,
          value: `${fmt(perChunk, 0)} / ${fmt(floor.cpuMs, 0)} (${fmt(perChunk / floor.cpuMs, 2)}×)`,
          unit: "ms",
        });
        if (p95 > sc.seconds * 2000) break; // far past real time: larger N only queues up
      }
      figures.push({ bench: "ingest", what: `${sc.name}: largest N with p95 < chunk`, value: String(capacity), unit: "streams" });
    }
    await segmentDelivery(api, fx, db, figures);
    table(
      [
        "scenario",
        "N",
        "segments",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "chunks/s",
        "worker cpu s / stream-s",
        "plain ffmpeg cpu s / stream-s",
        "worker cpu ms / chunk",
        "of it ffmpeg",
        "plain ffmpeg cpu ms / chunk",
        "ratio",
        "plain ffmpeg wall ms",
      ],
      rows,
    );
    console.log(`peak RSS: api ${fmt(peakRssMiB(api.proc.pid))} MiB, worker ${fmt(peakRssMiB(worker.proc.pid))} MiB (worker concurrency 2, 2 cores)`);
    figures.push({
      bench: "ingest",
      what: "peak RSS api / worker",
      value: `${fmt(peakRssMiB(api.proc.pid))} / ${fmt(peakRssMiB(worker.proc.pid))}`,
      unit: "MiB",
    });
  } finally {
    await db.end().catch(() => {});
    await Promise.all([api.stop().catch(() => 0), worker.stop().catch(() => 0)]);
  }
  return figures;
}

if (import.meta.main) await runAlone(run);
