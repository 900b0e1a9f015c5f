import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { sql } from "kysely";
import { addUser, createToken } from "../../core/auth/auth.service.ts";
import { enqueueProbe } from "../../core/queue/queue-probe.service.ts";
import { json, startTestApp, type TestApp } from "../support/app.ts";
import { contentTypeOf, makeChunks, run } from "../support/media.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";

/**
 * Issue 10, live first: more classic streams than one worker (concurrency 1) keeps up with.
 * Each round, while the worker is held busy by a queue probe, every stream gets a burst of three
 * 1-s chunks (what a phone's outbox sends after a stall) — three chunk lengths of backlog each,
 * twelve segments of work. Whatever this machine's speed, the worker then finds every stream two
 * chunks behind: the live playlist must jump to each stream's newest chunk before any backlog is
 * touched, and once the load is over every recording must have every chunk.
 */
setDefaultTimeout(300_000);

const STREAMS = 4;
const ROUNDS = 4;
const BURST = 3;
/** Long enough for twelve small PUTs on a busy box; only a precondition, checked below. */
const HOLD_MS = 8_000;

let app: TestApp;
let minio: TestMinio;
let token: string;

beforeAll(async () => {
  minio = await startMinio();
  app = await startTestApp({
    "database-url": await testDatabaseUrl(),
    "storage-url": minio.url,
    roles: "api,worker",
    "worker-concurrency": "1",
    "gap-wait": "2s",
  });
  const db = app.rt.database.db;
  await addUser(db, { email: "rep@city.example", role: "reporter", password: "long enough pw" });
  token = (await createToken(db, { email: "rep@city.example", name: "t", ttlMs: 3_600_000 })).token;
}, 120_000);
afterAll(async () => {
  await app?.stop();
  await minio?.stop();
});

const headers = () => ({ authorization: `Bearer ${token}` });
const db = () => app.rt.database.db;

async function probeRunning(): Promise<boolean> {
  const r = await sql<{ n: number }>`select count(*)::int as n from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
    where t.identifier = 'queue_probe' and j.locked_at is not null`.execute(db());
  return r.rows[0]!.n > 0;
}
async function until(what: string, ok: () => Promise<boolean>, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await Bun.sleep(50);
  }
}
async function listed(id: string): Promise<{ seqs: number[]; text: string }> {
  const text = await (await app.request(`/api/v1/streams/${id}/hls/index.m3u8`, { headers: headers() })).text();
  return { seqs: [...text.matchAll(/segments\/(\d+)\.ts/g)].map((m) => Number(m[1])), text };
}

test("bursts on every stream: live playlists jump to the newest chunk first, the backlog follows, recordings are complete", async () => {
  // What Chromium's MediaRecorder sends: WebM with H.264 and Opus.
  const kind = "webm-h264-opus";
  const chunks = await makeChunks(kind, ROUNDS * BURST, 1, "160x120");
  const ids: string[] = [];
  for (let s = 0; s < STREAMS; s++) {
    const res = await app.request("/api/v1/streams", json({ title: `busy ${s}` }, { headers: headers() }));
    expect(res.status).toBe(201);
    ids.push(((await res.json()) as { id: string }).id);
  }
  const t0 = Date.now();

  for (let r = 0; r < ROUNDS; r++) {
    await enqueueProbe(db(), HOLD_MS);
    await until("the probe to occupy the worker", probeRunning);
    const seqs = Array.from({ length: BURST }, (_, k) => r * BURST + k);
    const puts = await Promise.all(
      ids.flatMap((id) =>
        seqs.map((seq) =>
          app.request(`/api/v1/streams/${id}/chunks/${seq}`, {
            method: "PUT",
            headers: { ...headers(), "content-type": contentTypeOf(kind), "x-chunk-start": String(t0 + seq * 1000) },
            body: chunks[seq]!,
          }),
        ),
      ),
    );
    expect(puts.map((p) => p.status)).toEqual(puts.map(() => 201));
    expect(await probeRunning()).toBe(true); // the burst landed while the worker was busy
    await until("every chunk of the round to be segmented", async () => {
      const r = await db()
        .selectFrom("chunks")
        .select((eb) => eb.fn.countAll<string>().as("n"))
        .where("state", "=", "stored")
        .executeTakeFirstOrThrow();
      return Number(r.n) === 0;
    });

    const rows = await db().selectFrom("segments").select(["stream_id", "seq", "late", "discontinuity", "created_at"]).where("seq", "in", seqs).execute();
    expect(rows).toHaveLength(STREAMS * BURST);
    for (const id of ids) {
      const mine = rows.filter((x) => x.stream_id === id);
      // The live playlist got the newest chunk of the burst, after a discontinuity; the rest are late.
      expect(mine.filter((x) => !x.late).map((x) => x.seq)).toEqual([seqs.at(-1)!]);
      expect(mine.find((x) => !x.late)!.discontinuity).toBe(true);
    }
    // Newest first: each stream's live segment was made before any of its backlog. (Across streams
    // the order is the queue's business: a live job waiting on its predecessor lets another
    // stream's batch work run meanwhile, so that is not a property to assert.)
    for (const id of ids) {
      const mine = rows.filter((x) => x.stream_id === id);
      const live = new Date(mine.find((x) => !x.late)!.created_at).getTime();
      for (const late of mine.filter((x) => x.late)) expect(new Date(late.created_at).getTime()).toBeGreaterThanOrEqual(live);
    }
    // So each live playlist ends at its newest chunk.
    for (const id of ids) expect((await listed(id)).seqs.at(-1)).toBe(seqs.at(-1)!);
  }

  // Load over: finish; the recording and the final playlist have every chunk, in order.
  for (const id of ids) expect((await app.request(`/api/v1/streams/${id}/finish`, { method: "POST", headers: headers() })).status).toBe(200);
  const total = ROUNDS * BURST;
  for (const id of ids) {
    let s: any;
    await until("the recording", async () => {
      s = await (await app.request(`/api/v1/streams/${id}`, { headers: headers() })).json();
      return Boolean(s.recording);
    });
    expect({ segments: s.segments, failed: s.failed_chunks }).toEqual({ segments: total, failed: [] });
    const { seqs, text } = await listed(id);
    expect(seqs).toEqual(Array.from({ length: total }, (_, k) => k));
    expect(text).toContain("#EXT-X-ENDLIST");
    const probe = await run([
      "ffprobe",
      "-v",
      "error",
      "-headers",
      `Authorization: Bearer ${token}\r\n`,
      "-show_entries",
      "format=duration",
      "-of",
      "csv=p=0",
      `${app.url}/api/v1/streams/${id}/recording.mp4`,
    ]);
    expect(Math.abs(Number(probe.stdout.trim()) - total) / total).toBeLessThan(0.05);
  }
});
