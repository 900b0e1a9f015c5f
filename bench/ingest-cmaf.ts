// bench ingest (CMAF part): N simulated phones replay real CMAF fragments (720p30 H.264 ~2 Mb/s +
// Opus, made once by ffmpeg) at real-time pace into one API node (the compiled binary), each with
// one viewer doing LL-HLS blocking playlist reloads and sending its grid still every 2.5 s. Prints, per fragment length and N:
// PUT → listed (the blocking reload that first shows the part returns) p50/p95/p99, PUT latency,
// server CPU-seconds per stream-second, RSS, errors; and the floor in the same run: the same
// phones PUT the same bytes to a bare server that does one MinIO PUT plus one INSERT per chunk.
// BENCH_CPU_PROF_DIR=dir: the API node runs from source under Bun's sampling profiler and writes a
// markdown profile there when it stops.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { startRter } from "../test/support/rter-process.ts";
import { freePort } from "../test/support/net.ts";
import { POSTER_EVERY_MS } from "../web/report/poster.ts";
import { fmt, getFixture, pct, rssMiB, table, type Figure } from "./lib.ts";

const TICK_MS = 1000 / 100;
const SECONDS = Number(process.env.BENCH_CMAF_SECONDS ?? 20);
const NS = (process.env.BENCH_CMAF_NS ?? "10,25,50,100").split(",").map(Number);
const FRAGMENTS = (process.env.BENCH_CMAF_FRAGMENTS ?? "0.25,0.5").split(",").map(Number);

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS;
}

interface Source {
  init: Uint8Array<ArrayBuffer>;
  /** The grid's still a phone sends every POSTER_EVERY_MS (web/report/poster.ts): 320 px JPEG. */
  still: Uint8Array<ArrayBuffer>;
  fragments: { bytes: Uint8Array<ArrayBuffer>; seconds: number }[];
}

/** Top-level boxes of an ISO BMFF file: [type, start, end]. */
function topBoxes(b: Uint8Array): [string, number, number][] {
  const out: [string, number, number][] = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let at = 0; at + 8 <= b.length; ) {
    let size = dv.getUint32(at);
    const type = String.fromCharCode(b[at + 4]!, b[at + 5]!, b[at + 6]!, b[at + 7]!);
    if (size === 1) size = Number(dv.getBigUint64(at + 8));
    if (size === 0) size = b.length - at;
    if (size < 8 || at + size > b.length) throw new Error(`bad box ${type} at ${at}`);
    out.push([type, at, at + size]);
    at += size;
  }
  return out;
}

/** Sum of the video track's sample durations in one moof, in seconds (trun per traf, tfhd/trex defaults ignored: ffmpeg writes them per sample here). */
function fragmentSeconds(frag: Uint8Array, videoTimescale: number, videoTrack: number): number {
  const dv = new DataView(frag.buffer, frag.byteOffset, frag.byteLength);
  let total = 0;
  const walk = (start: number, end: number, trackId: number, defaultDur: number) => {
    for (let at = start; at + 8 <= end; ) {
      const size = dv.getUint32(at);
      const type = String.fromCharCode(frag[at + 4]!, frag[at + 5]!, frag[at + 6]!, frag[at + 7]!);
      if (size < 8) return;
      if (type === "moof") walk(at + 8, at + size, 0, 0);
      else if (type === "traf") walk(at + 8, at + size, 0, 0);
      else if (type === "tfhd") {
        const flags = dv.getUint32(at + 8) & 0xffffff;
        trackId = dv.getUint32(at + 12);
        let p = at + 16;
        if (flags & 0x1) p += 8;
        if (flags & 0x2) p += 4;
        if (flags & 0x8) defaultDur = dv.getUint32(p);
      } else if (type === "trun" && trackId === videoTrack) {
        const flags = dv.getUint32(at + 8) & 0xffffff;
        const count = dv.getUint32(at + 12);
        let p = at + 16;
        if (flags & 0x1) p += 4;
        if (flags & 0x4) p += 4;
        for (let i = 0; i < count; i++) {
          total += flags & 0x100 ? dv.getUint32(p) : defaultDur;
          p += (flags & 0x100 ? 4 : 0) + (flags & 0x200 ? 4 : 0) + (flags & 0x400 ? 4 : 0) + (flags & 0x800 ? 4 : 0);
        }
      }
      at += size;
    }
  };
  walk(0, frag.length, 0, 0);
  return total / videoTimescale;
}

/** 720p30 H.264 ~2 Mb/s (key frame every second) + Opus, cut by ffmpeg into fragments of `fragSec` that restart at each key frame. */
async function makeSource(fragSec: number, seconds: number): Promise<Source> {
  const dir = mkdtempSync(join(tmpdir(), "rter-cmaf-bench-"));
  try {
    const out = join(dir, "src.mp4");
    const p = Bun.spawn(
      [
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        `testsrc2=size=1280x720:rate=30:duration=${seconds}`,
        "-f",
        "lavfi",
        "-i",
        `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-b:v",
        "2M",
        "-maxrate",
        "2M",
        "-bufsize",
        "1M",
        "-g",
        "30",
        "-keyint_min",
        "30",
        "-sc_threshold",
        "0",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "libopus",
        "-b:a",
        "64k",
        "-f",
        "mp4",
        "-movflags",
        // frag_keyframe: a fragment also starts at each key frame, as the reporter page cuts them
        // (web/report/cmaf-packager.ts): an independent part every second. Without it, 0.25-s
        // fragments met a key frame only every ~6 s, so segments grew to 6 s and a blocked reload
        // could rightly be held 3 × 6 s — past this bench's own client timeout.
        "empty_moov+default_base_moof+frag_keyframe",
        "-frag_duration",
        String(Math.round(fragSec * 1e6)),
        out,
      ],
      { stderr: "pipe" },
    );
    if ((await p.exited) !== 0) throw new Error(`ffmpeg: ${await new Response(p.stderr).text()}`);
    const stillFile = join(dir, "still.jpg");
    const sp = Bun.spawn(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=1", "-frames:v", "1", "-q:v", "6", stillFile], {
      stderr: "pipe",
    });
    if ((await sp.exited) !== 0) throw new Error(`ffmpeg still: ${await new Response(sp.stderr).text()}`);
    const still = new Uint8Array(readFileSync(stillFile));
    const b = new Uint8Array(readFileSync(out));
    const boxes = topBoxes(b);
    const firstMoof = boxes.findIndex(([t]) => t === "moof");
    const init = b.slice(0, boxes[firstMoof]![1]);
    // Video track id and timescale, read from the moov the cheap way: first 'vide' trak's tkhd/mdhd.
    const moov = boxes.find(([t]) => t === "moov")!;
    const text = Buffer.from(b.subarray(moov[1], moov[2]));
    const vide = text.indexOf("vide");
    const trakStart = text.lastIndexOf("trak", vide) - 4;
    const tkhd = text.indexOf("tkhd", trakStart);
    const tkVersion = text[tkhd + 4]!;
    const trackId = text.readUInt32BE(tkhd + 4 + 4 + (tkVersion === 1 ? 16 : 8));
    const mdhd = text.indexOf("mdhd", trakStart);
    const mdVersion = text[mdhd + 4]!;
    const timescale = text.readUInt32BE(mdhd + 4 + 4 + (mdVersion === 1 ? 16 : 8));
    const fragments: Source["fragments"] = [];
    for (let i = firstMoof; i < boxes.length; i++) {
      const [t, s] = boxes[i]!;
      if (t !== "moof") continue;
      const mdat = boxes[i + 1];
      if (!mdat || mdat[0] !== "mdat") break;
      const bytes = b.slice(s, mdat[2]);
      const sec = fragmentSeconds(bytes, timescale, trackId);
      // ffmpeg's last fragment can hold only the audio tail; a phone's parts always carry video.
      if (sec > 0) fragments.push({ bytes, seconds: sec });
    }
    return { init, still, fragments };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface PhoneResult {
  putMs: number[];
  listedMs: number[];
  errors: string[];
}

/** One phone: create a stream, send the init, then each fragment when it would have been captured; one viewer follows the playlist. */
async function phone(base: string, token: string, src: Source, withViewer: boolean, floor: boolean): Promise<PhoneResult> {
  const h = { authorization: `Bearer ${token}` };
  const res: PhoneResult = { putMs: [], listedMs: [], errors: [] };
  let id: string = crypto.randomUUID();
  if (!floor) {
    const r = await fetch(`${base}/api/v1/streams`, { method: "POST", headers: { ...h, "content-type": "application/json" }, body: '{"title":"bench cmaf"}' });
    if (r.status !== 201) throw new Error(`create stream: ${r.status} ${await r.text()}`);
    id = ((await r.json()) as { id: string }).id;
  }
  const init = await fetch(`${base}/api/v1/streams/${id}/init`, { method: "PUT", headers: { ...h, "content-type": "video/mp4" }, body: src.init });
  if (init.status !== 201) throw new Error(`init: ${init.status} ${await init.text()}`);
  const putAt = new Map<number, number>();
  let sending = true;
  const viewer = withViewer ? follow(base, h, id, putAt, res, () => sending) : Promise.resolve();
  // The phone's grid still, as the reporter page sends it (the floor has no such thing).
  const stills = floor
    ? null
    : setInterval(() => {
        fetch(`${base}/api/v1/streams/${id}/poster`, { method: "PUT", headers: { ...h, "content-type": "image/jpeg" }, body: src.still }).then(
          async (r) => {
            if (r.status !== 200) res.errors.push(`poster: ${r.status} ${(await r.text()).slice(0, 200)}`);
          },
          (e) => res.errors.push(`poster: ${(e as Error).message}`),
        );
      }, POSTER_EVERY_MS);
  const t0 = performance.now();
  let due = 0;
  for (let seq = 0; seq < src.fragments.length; seq++) {
    const f = src.fragments[seq]!;
    due += f.seconds * 1000;
    const wait = t0 + due - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    const start = performance.now();
    putAt.set(seq, start);
    try {
      const r = await fetch(`${base}/api/v1/streams/${id}/chunks/${seq}`, {
        method: "PUT",
        headers: { ...h, "content-type": "video/iso.segment", "x-chunk-start": String(Date.now()) },
        body: f.bytes,
      });
      const answer = await r.text();
      if (r.status !== 201) res.errors.push(`PUT ${seq}: ${r.status} ${answer.slice(0, 200)}`);
      else res.putMs.push(performance.now() - start);
    } catch (e) {
      res.errors.push(`PUT ${seq}: ${(e as Error).message}`);
    }
  }
  sending = false;
  if (stills) clearInterval(stills);
  await viewer;
  return res;
}

/**
 * An LL-HLS viewer: asks for the part after the newest it has (blocking reload) and records, for
 * every part that appears, the time since its PUT began.
 */
async function follow(
  base: string,
  h: Record<string, string>,
  id: string,
  putAt: Map<number, number>,
  res: PhoneResult,
  sending: () => boolean,
): Promise<void> {
  const seen = new Set<number>();
  let query = "";
  let stoppedAt = 0;
  // Done once every sent part was seen, or 10 s after the last PUT (a part never listed is an error).
  const done = () => {
    if (sending()) return false;
    stoppedAt ||= performance.now();
    return seen.size >= putAt.size || performance.now() - stoppedAt > 10_000;
  };
  const unseen = () => [...putAt.keys()].filter((seq) => !seen.has(seq));
  // The server may hold a blocking reload 3 target durations (ll-hls.service.ts HOLD_TARGETS), and
  // a target duration is at most 6 s (a segment closes at 6 s): the client waits longer than that,
  // and counts a hold past 3 × the list's TARGETDURATION (+ 2 s of slack) as the server's fault.
  let targetSec = 6;
  for (let i = 0; i < 100_000 && !done(); i++) {
    let text = "";
    const rid = `v-${id.slice(0, 8)}-${i}`;
    const sentAt = performance.now();
    try {
      const r = await fetch(`${base}/api/v1/streams/${id}/hls/index.m3u8${query}`, {
        headers: { ...h, "x-request-id": rid },
        signal: AbortSignal.timeout(3 * 6_000 + 5_000),
      });
      text = await r.text();
      const heldMs = performance.now() - sentAt;
      if (query && heldMs > 3 * targetSec * 1000 + 2_000)
        res.errors.push(`playlist ${query} x-request-id ${rid}: held ${fmt(heldMs, 0)} ms, past 3 target durations (${targetSec} s)`);
      if (r.status !== 200) {
        // After the last part a blocked reload ends in 503 (nothing new within 3 target durations): expected.
        if ((r.status >= 500 && sending()) || r.status === 400) res.errors.push(`playlist ${r.status}`);
        await Bun.sleep(50);
        query = "";
        continue;
      }
    } catch (e) {
      // Which request, asking for what, how long after the phone's last PUT began: the server logs the same id.
      const lastPut = Math.max(...putAt.values());
      res.errors.push(
        `playlist ${query || "(no block)"} x-request-id ${rid}: ${(e as Error).message} after ${fmt(performance.now() - sentAt, 0)} ms (sent ${fmt(sentAt - lastPut, 0)} ms after the newest PUT began, ${putAt.size} PUTs begun, sending ${sending()})`,
      );
      query = "";
      continue;
    }
    const now = performance.now();
    targetSec = Number(/#EXT-X-TARGETDURATION:(\d+)/.exec(text)?.[1] ?? targetSec);
    // A part may scroll out of the part window between two reloads: its segment lists it then.
    for (const m of text.matchAll(/segments\/(\d+)-(\d+)\.m4s/g)) {
      for (let seq = Number(m[1]); seq <= Number(m[2]); seq++) {
        if (seen.has(seq)) continue;
        seen.add(seq);
        const t = putAt.get(seq);
        if (t !== undefined) res.listedMs.push(now - t);
      }
    }
    for (const m of text.matchAll(/parts\/(\d+)\.m4s/g)) {
      const seq = Number(m[1]);
      if (
        seen.has(seq) ||
        (text.includes(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="parts/${seq}.m4s"`) && !new RegExp(`#EXT-X-PART:[^\\n]*parts/${seq}\\.m4s`).test(text))
      )
        continue;
      seen.add(seq);
      const t = putAt.get(seq);
      if (t !== undefined) res.listedMs.push(now - t);
    }
    // Next request: the part after the last listed one (msn of the open segment, its part count).
    const lines = text.split("\n");
    let msn = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1] ?? 0);
    let parts = 0;
    for (const l of lines) {
      if (l.startsWith("#EXT-X-PART:")) parts++;
      else if (l.startsWith("#EXTINF")) {
        msn++;
        parts = 0;
      }
    }
    query = `?_HLS_msn=${msn}&_HLS_part=${parts}`;
    if (!sending() && seen.size < putAt.size && i > 0) await Bun.sleep(10);
  }
  for (const seq of unseen()) res.errors.push(`part ${seq} never listed`);
}

export async function run(): Promise<Figure[]> {
  const fx = await getFixture();
  const figures: Figure[] = [];
  // Every simulated phone shares the fixture's one token; a real phone has its own, so the
  // per-token, per-user and item limits are lifted here (this measures ingest, not throttling).
  const limits = { RTER_RATE_LIMIT: "1000000/1m", RTER_RATE_LIMIT_USER: "1000000/1m", RTER_RATE_LIMIT_PLAYBACK: "1000000/1m", RTER_QUOTA_ITEMS: "off" };
  const api = await startRter({
    binary: fx.binary,
    env: { ...fx.env, ...limits, RTER_LOG_LEVEL: process.env.BENCH_API_LOG_LEVEL ?? "warn", RTER_DB_POOL_MAX: process.env.RTER_DB_POOL_MAX ?? "20" },
    args: ["--roles", "api"],
    ...(process.env.BENCH_CPU_PROF_DIR ? { bunFlags: ["--cpu-prof-md", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`] } : {}),
  });
  const worker = await startRter({ binary: fx.binary, env: { ...fx.env, RTER_LOG_LEVEL: "warn" }, args: ["--roles", "worker"] });
  const floorPort = await freePort();
  const floorProc = Bun.spawn(["bun", join(import.meta.dir, "floor-server.ts")], {
    env: {
      ...process.env,
      PORT: String(floorPort),
      FLOOR_MODE: "ingest",
      DATABASE_URL: fx.dbUrl,
      FLOOR_S3: JSON.stringify({
        endPoint: fx.minio.endPoint,
        port: fx.minio.port,
        accessKey: fx.minio.accessKey,
        secretKey: fx.minio.secretKey,
        bucket: fx.minio.bucket,
      }),
    },
    stdout: "inherit",
    stderr: "inherit",
  });
  const floorBase = `http://127.0.0.1:${floorPort}`;
  const db = new pg.Client({ connectionString: fx.dbUrl });
  try {
    await Promise.all([api.waitReady(), worker.waitReady()]);
    for (let i = 0; i < 100; i++) {
      if (
        await fetch(`${floorBase}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      await Bun.sleep(100);
    }
    await db.connect();
    const rows: (string | number)[][] = [];
    for (const fragSec of FRAGMENTS) {
      const src = await makeSource(fragSec, SECONDS);
      const bytesPerSec = src.fragments.reduce((a, f) => a + f.bytes.length, 0) / SECONDS;
      console.log(
        `source: ${fragSec}s fragments, ${src.fragments.length} over ${SECONDS} s, ${fmt((bytesPerSec * 8) / 1e6, 2)} Mb/s, init ${src.init.length} bytes`,
      );
      for (const n of NS) {
        const cpu0 = cpuMs(api.proc.pid);
        const wcpu0 = cpuMs(worker.proc.pid);
        const results = await Promise.all(Array.from({ length: n }, () => phone(api.url, fx.token, src, true, false)));
        const cpuPerStreamSec = (cpuMs(api.proc.pid) - cpu0) / 1000 / (n * SECONDS);
        const workerCpu = (cpuMs(worker.proc.pid) - wcpu0) / 1000 / (n * SECONDS);
        const listed = results.flatMap((r) => r.listedMs);
        const puts = results.flatMap((r) => r.putMs);
        const errors = results.flatMap((r) => r.errors);
        // Ingest alone (no viewers): the cost per chunk to compare with the floor, which has no
        // viewers either; the run above adds the LL-HLS readers' cost.
        const icpu0 = cpuMs(api.proc.pid);
        const ingestOnly = await Promise.all(Array.from({ length: n }, () => phone(api.url, fx.token, src, false, false)));
        const ingestCpu = (cpuMs(api.proc.pid) - icpu0) / 1000 / (n * SECONDS);
        const ingestPuts = ingestOnly.flatMap((r) => r.putMs);
        errors.push(...ingestOnly.flatMap((r) => r.errors));
        // The floor: the same phones, the same bytes, one MinIO PUT + one INSERT each.
        const fcpu0 = cpuMs(floorProc.pid);
        const floor = await Promise.all(Array.from({ length: n }, () => phone(floorBase, "floor", src, false, true)));
        const floorCpu = (cpuMs(floorProc.pid) - fcpu0) / 1000 / (n * SECONDS);
        const floorPuts = floor.flatMap((r) => r.putMs);
        const floorErrors = floor.flatMap((r) => r.errors);
        rows.push([
          `${fragSec}s`,
          n,
          listed.length,
          fmt(pct(listed, 50), 0),
          fmt(pct(listed, 95), 0),
          fmt(pct(listed, 99), 0),
          fmt(pct(puts, 50), 0),
          fmt(pct(puts, 95), 0),
          fmt(cpuPerStreamSec * 100, 2),
          fmt(workerCpu * 100, 2),
          errors.length,
          fmt(pct(ingestPuts, 50), 0),
          fmt(pct(ingestPuts, 95), 0),
          fmt(ingestCpu * 100, 2),
          fmt(pct(floorPuts, 50), 0),
          fmt(pct(floorPuts, 95), 0),
          fmt(floorCpu * 100, 2),
          floorErrors.length,
          fmt(ingestCpu / floorCpu, 2),
        ]);
        if (errors.length) console.log(`  N=${n} errors (first 5): ${errors.slice(0, 5).join("; ")}`);
        // What the API node logged about a viewer request that failed (BENCH_API_LOG_LEVEL=info logs every request).
        for (const rid of errors.flatMap((e) => /x-request-id (\S+)/.exec(e)?.[1] ?? []).slice(0, 5)) {
          const lines = api
            .output()
            .split("\n")
            .filter((l) => l.includes(rid));
          console.log(`  ${rid}: ${lines.length ? lines.join(" | ").slice(0, 600) : "nothing in the API node's log"}`);
        }
        if (floorErrors.length) console.log(`  N=${n} floor errors (first 5): ${floorErrors.slice(0, 5).join("; ")}`);
        console.log(
          `  ${fragSec}s N=${n}: listed p95 ${fmt(pct(listed, 95), 0)} ms, api ${fmt(cpuPerStreamSec * 100, 2)} % core/stream, RSS api ${fmt(rssMiB(api.proc.pid))} MiB worker ${fmt(rssMiB(worker.proc.pid))} MiB floor ${fmt(rssMiB(floorProc.pid))} MiB`,
        );
        figures.push({
          bench: "ingest",
          what: `cmaf ${fragSec}s N=${n}: PUT→listed p95 / api % core per stream`,
          value: `${fmt(pct(listed, 95), 0)} / ${fmt(cpuPerStreamSec * 100, 2)}`,
          unit: "ms / %",
        });
        figures.push({
          bench: "ingest",
          what: `cmaf ${fragSec}s N=${n}: our PUT p50 / floor PUT p50`,
          value: `${fmt(pct(puts, 50), 1)} / ${fmt(pct(floorPuts, 50), 1)}`,
          unit: "ms",
        });
        figures.push({
          bench: "ingest",
          what: `cmaf ${fragSec}s N=${n}: ingest-only api % core per stream / floor (ratio)`,
          value: `${fmt(ingestCpu * 100, 2)} / ${fmt(floorCpu * 100, 2)} (${fmt(ingestCpu / floorCpu, 2)}×)`,
          unit: "%",
        });
      }
    }
    table(
      [
        "fragment",
        "N",
        "parts listed",
        "listed p50 ms",
        "p95",
        "p99",
        "PUT p50 ms",
        "PUT p95",
        "api % core/stream",
        "worker % core/stream",
        "errors",
        "ingest-only PUT p50",
        "p95",
        "ingest-only % core/stream",
        "floor PUT p50 ms",
        "floor p95",
        "floor % core/stream",
        "floor errors",
        "ingest ÷ floor CPU",
      ],
      rows,
    );
    console.log(
      `RSS now: api ${fmt(rssMiB(api.proc.pid))} MiB, worker ${fmt(rssMiB(worker.proc.pid))} MiB, floor ${fmt(rssMiB(floorProc.pid))} MiB (phones and viewers run in this bench process, on the same 2 cores)`,
    );
  } finally {
    await db.end().catch(() => {});
    floorProc.kill();
    await Promise.all([api.stop().catch(() => 0), worker.stop().catch(() => 0)]);
  }
  return figures;
}

if (import.meta.main) {
  const { runAlone } = await import("./lib.ts");
  await runAlone(run);
}
