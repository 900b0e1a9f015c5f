// Node-side CPU of one classic segment job (segmentChunk on the late lane: download, in-process
// probe, one ffmpeg remux, packet span, PUT, SQL and event), in this process: no graphile-worker,
// no idle polling, and ffmpeg's own CPU left out (it is a child: process.cpuUsage does not count
// it). An api node (the compiled binary) takes the chunks; nothing runs their queued jobs. The
// first stream warms up; the median of the others is printed. Interleave runs of two trees to
// compare a change on a busy machine (issue 10: our CPU per chunk against plain ffmpeg).
//   bun bench/segment-job.ts
import { loadavg } from "node:os";
import { openDatabase } from "../core/db/kysely.ts";
import type { Logger } from "../core/log.ts";
import { locateFfmpeg } from "../core/media/ffmpeg-locate.ts";
import { openStore, parseStorageUrl } from "../core/storage/open.ts";
import { segmentChunk } from "../core/streams/segmenting.service.ts";
import { contentTypeOf, makeChunks } from "../test/support/media.ts";
import { startRter } from "../test/support/rter-process.ts";
import { closeFixture, getFixture } from "./lib.ts";

const STREAMS = 3;
const CHUNKS = 12;

const fx = await getFixture();
const api = await startRter({ binary: fx.binary, env: { ...fx.env, RTER_LOG_LEVEL: "warn" }, args: ["--roles", "api"] });
try {
  await api.waitReady();
  const h = { authorization: `Bearer ${fx.token}` };
  const chunks = await makeChunks("ts-h264-aac", 6, 1, "1280x720");
  const ids: string[] = [];
  for (let s = 0; s < STREAMS; s++) {
    const r = await fetch(`${api.url}/api/v1/streams`, {
      method: "POST",
      headers: { ...h, "content-type": "application/json" },
      body: '{"title":"segment-job"}',
    });
    const { id } = (await r.json()) as { id: string };
    for (let i = 0; i < CHUNKS; i++) {
      const res = await fetch(`${api.url}/api/v1/streams/${id}/chunks/${i}`, {
        method: "PUT",
        headers: { ...h, "content-type": contentTypeOf("ts-h264-aac") },
        body: chunks[i % chunks.length],
      });
      if (res.status !== 201) throw new Error(`chunk ${i}: ${res.status}`);
    }
    ids.push(id);
  }
  const log: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => log };
  const database = openDatabase({ url: fx.dbUrl, poolMax: 4, statementTimeoutMs: 30_000, connectTimeoutMs: 5_000, applicationName: "bench-segment-job" }, log);
  const store = openStore(parseStorageUrl(fx.minio.url, "/tmp"));
  await store.ensure();
  const deps = { db: database.db, store, log, ffmpeg: await locateFfmpeg(null), ffmpegTimeoutMs: 60_000, gapWaitMs: 4_000 };
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const per: number[] = [];
  for (const [k, id] of ids.entries()) {
    for (let seq = 0; seq < CHUNKS; seq++) {
      const c0 = cpuMs();
      // The late lane: with every chunk stored already, the live lane would jump to the newest.
      const out = await segmentChunk(deps, id, seq, { lastAttempt: true, lane: "late" });
      if (out !== "done") throw new Error(`seq ${seq}: ${out}`);
      if (k > 0) per.push(cpuMs() - c0);
    }
  }
  per.sort((a, b) => a - b);
  const mean = per.reduce((a, b) => a + b, 0) / per.length;
  console.log(
    `segment job, Node CPU per 1-s 720p TS chunk: median ${per[per.length >> 1]!.toFixed(2)} ms, mean ${mean.toFixed(2)} ms (n=${per.length}); load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
  await database.pool.end();
  await store.close();
} finally {
  await api.stop();
  await closeFixture();
}
