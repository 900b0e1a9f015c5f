import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { addUser, createToken } from "../../core/auth/auth.service.ts";
import { contentTypeOf, durationOf, makeChunks, run, type ChunkKind } from "../support/media.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { json, startTestApp, type TestApp } from "../support/app.ts";

let app: TestApp;
let minio: TestMinio;
let token: string;
let otherToken: string;
let viewerToken: string;

beforeAll(async () => {
  minio = await startMinio();
  app = await startTestApp({
    "database-url": await testDatabaseUrl(),
    "storage-url": minio.url,
    roles: "api,worker",
    "max-chunk-bytes": "4MiB",
    "gap-wait": "2s",
    "worker-concurrency": "4",
  });
  const db = app.rt.database.db;
  for (const [email, role] of [
    ["rep@city.example", "reporter"],
    ["rep2@city.example", "reporter"],
    ["view@city.example", "viewer"],
  ] as const) {
    await addUser(db, { email, role, password: "long enough pw" });
  }
  token = (await createToken(db, { email: "rep@city.example", name: "t", ttlMs: 3_600_000 })).token;
  otherToken = (await createToken(db, { email: "rep2@city.example", name: "t", ttlMs: 3_600_000 })).token;
  viewerToken = (await createToken(db, { email: "view@city.example", name: "t", ttlMs: 3_600_000 })).token;
}, 120_000);
afterAll(async () => {
  await app?.stop();
  await minio?.stop();
});

const auth = (t = token) => ({ authorization: `Bearer ${t}` });
async function createStream(body: object = {}, headers: Record<string, string> = {}): Promise<string> {
  const res = await app.request("/api/v1/streams", json(body, { headers: { ...auth(), ...headers } }));
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}
function putChunk(
  id: string,
  seq: number | string,
  bytes: Uint8Array<ArrayBuffer> | string,
  contentType: string,
  extra: Record<string, string> = {},
  t = token,
) {
  return app.request(`/api/v1/streams/${id}/chunks/${seq}`, { method: "PUT", headers: { ...auth(t), "content-type": contentType, ...extra }, body: bytes });
}
async function stream(id: string): Promise<any> {
  return (await app.request(`/api/v1/streams/${id}`, { headers: auth() })).json();
}
/** Waits until the worker has settled every chunk (and, after finish, made the recording). */
async function settled(id: string, wantRecording = false, ms = 60_000): Promise<any> {
  const t0 = Date.now();
  for (;;) {
    const s = await stream(id);
    if (s.segments + s.failed_chunks.length >= s.chunks && (!wantRecording || s.recording)) return s;
    if (Date.now() - t0 > ms) throw new Error(`stream ${id} not settled: ${JSON.stringify(s)}`);
    await Bun.sleep(200);
  }
}

describe("each container becomes a continuous, decodable HLS stream", () => {
  const kinds: ChunkKind[] = ["mp4-h264-aac", "webm-vp8-opus", "webm-h264-opus", "ts-h264-aac"];
  for (const kind of kinds) {
    test(kind, async () => {
      const chunks = await makeChunks(kind, 4, 1);
      const ext = kind.startsWith("mp4") ? "mp4" : kind.startsWith("ts") ? "ts" : "webm";
      const expected = (await Promise.all(chunks.map((c) => durationOf(c, ext)))).reduce((a, b) => a + b, 0);
      const id = await createStream({ title: kind });
      const t0 = Date.now();
      for (let i = 0; i < chunks.length; i++) {
        const res = await putChunk(id, i, chunks[i]!, contentTypeOf(kind), { "x-chunk-start": String(t0 + i * 1000) });
        expect(res.status).toBe(201);
        const body = (await res.json()) as { seq: number; sha256: string };
        expect(body).toEqual({ seq: i, sha256: new Bun.CryptoHasher("sha256").update(chunks[i]!).digest("hex") });
      }
      expect((await app.request(`/api/v1/streams/${id}/finish`, { method: "POST", headers: auth() })).status).toBe(200);
      const s = await settled(id, true);
      expect(s.failed_chunks).toEqual([]);
      expect(s.segments).toBe(4);

      const playlistUrl = `${app.url}/api/v1/streams/${id}/hls/index.m3u8`;
      const list = await (await fetch(playlistUrl, { headers: auth() })).text();
      expect(list).toContain("#EXT-X-ENDLIST");
      expect(list.match(/segments\/(\d+)\.ts/g)).toEqual(["segments/0.ts", "segments/1.ts", "segments/2.ts", "segments/3.ts"]);
      expect(list).toContain(`#EXT-X-PROGRAM-DATE-TIME:${new Date(t0).toISOString()}`);

      const headers = ["-headers", `Authorization: Bearer ${token}\r\n`];
      const decode = await run(["ffmpeg", "-v", "error", ...headers, "-i", playlistUrl, "-f", "null", "-"]);
      expect(decode.stderr).toBe("");
      expect(decode.code).toBe(0);
      const dur = await run(["ffprobe", "-v", "error", ...headers, "-show_entries", "format=duration", "-of", "csv=p=0", playlistUrl]);
      expect(Math.abs(Number(dur.stdout.trim()) - expected) / expected).toBeLessThan(0.02);
      // Presentation order, not decode order (B-frames): no two frames share a time, and every
      // segment starts after the previous one's last frame.
      for (const sel of ["v", "a"]) {
        const pts = async (url: string) => {
          const r = await run(["ffprobe", "-v", "error", ...headers, "-select_streams", sel, "-show_entries", "packet=pts_time", "-of", "json", url]);
          const packets = (JSON.parse(r.stdout) as { packets: { pts_time?: string }[] }).packets;
          return packets
            .filter((p) => p.pts_time !== undefined)
            .map((p) => Number(p.pts_time))
            .sort((x, y) => x - y);
        };
        const all = await pts(playlistUrl);
        expect(all.length).toBeGreaterThan(10);
        expect({ stream: sel, repeated: all.findIndex((t, i) => i > 0 && !(t > all[i - 1]!)) }).toEqual({ stream: sel, repeated: -1 });
        const spans = await Promise.all([0, 1, 2, 3].map((i) => pts(`${app.url}/api/v1/streams/${id}/hls/segments/${i}.ts`)));
        for (let i = 1; i < spans.length; i++) {
          expect({ stream: sel, boundary: i, ok: spans[i]![0]! > spans[i - 1]!.at(-1)! }).toEqual({ stream: sel, boundary: i, ok: true });
        }
      }
      const status = (await (await app.request("/api/v1/status")).json()) as any;
      expect(status.ingest.lag_p95_seconds).toBeGreaterThan(0);
      expect(status.ingest.chunks_waiting).toBeGreaterThanOrEqual(0);
      // The poster follows the newest segment.
      let poster: Response | null = null;
      for (let i = 0; i < 50 && poster?.status !== 200; i++) {
        if (i) await Bun.sleep(200);
        poster = await app.request(`/api/v1/streams/${id}/poster.jpg`, { headers: auth() });
      }
      expect(poster!.status).toBe(200);
      const jpeg = new Uint8Array(await poster!.arrayBuffer());
      expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8]);
      // The recording is one MP4 whose bytes match its recorded SHA-256.
      const rec = await app.request(`/api/v1/streams/${id}/recording.mp4`, { headers: auth() });
      expect(rec.status).toBe(200);
      const bytes = new Uint8Array(await rec.arrayBuffer());
      expect(new Bun.CryptoHasher("sha256").update(bytes).digest("hex")).toBe(s.recording.sha256);
      expect(rec.headers.get("x-content-sha256")).toBe(s.recording.sha256);
      expect(Math.abs((await durationOf(bytes, "mp4")) - expected) / expected).toBeLessThan(0.02);
    }, 120_000);
  }
});

describe("order, duplicates and conflicts", () => {
  test("chunks 0..9 uploaded shuffled and in parallel give, once finished, a playlist in seq order", async () => {
    const chunks = await makeChunks("ts-h264-aac", 10, 1, "160x120");
    const id = await createStream();
    const order = [7, 2, 9, 0, 5, 1, 8, 3, 6, 4];
    const res = await Promise.all(order.map((i) => putChunk(id, i, chunks[i]!, "video/mp2t")));
    expect(res.map((r) => r.status)).toEqual(order.map(() => 201));
    const s = await settled(id);
    expect(s.segments).toBe(10);
    // Live, a burst this size makes the playlist jump to the newest chunk (live first); the
    // skipped ones are late. Finished, every segment is listed in seq order.
    const live = await (await app.request(`/api/v1/streams/${id}/hls/index.m3u8`, { headers: auth() })).text();
    expect(live).not.toContain("#EXT-X-ENDLIST");
    expect(live).toContain("segments/9.ts");
    expect((await app.request(`/api/v1/streams/${id}/finish`, { method: "POST", headers: auth() })).status).toBe(200);
    const list = await (await app.request(`/api/v1/streams/${id}/hls/index.m3u8`, { headers: auth() })).text();
    expect(list.match(/segments\/(\d+)\.ts/g) as string[]).toEqual(Array.from({ length: 10 }, (_, i) => `segments/${i}.ts`));
    expect(list).toContain("#EXT-X-ENDLIST");
  }, 120_000);

  test("the same chunk twice is one segment (200); different bytes for a stored seq are 409 and the original stays", async () => {
    const [a, b] = await makeChunks("ts-h264-aac", 2, 1, "160x120");
    const id = await createStream();
    const first = await putChunk(id, 0, a!, "video/mp2t");
    expect(first.status).toBe(201);
    const again = await putChunk(id, 0, a!, "video/mp2t");
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(await first.json());
    const conflict = await putChunk(id, 0, b!, "video/mp2t");
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get("content-type")).toBe("application/problem+json");
    // Concurrent identical retries: all succeed, still one chunk.
    const burst = await Promise.all([1, 2, 3].map(() => putChunk(id, 1, b!, "video/mp2t")));
    expect(burst.map((r) => r.status).sort()).toEqual([200, 200, 201]);
    const s = await settled(id);
    expect(s.chunks).toBe(2);
    expect(s.segments).toBe(2);
    const rows = await app.rt.database.db.selectFrom("chunks").select(["seq", "sha256"]).where("stream_id", "=", id).orderBy("seq").execute();
    expect(rows[0]!.sha256).toBe(new Bun.CryptoHasher("sha256").update(a!).digest("hex"));
    // Exactly one object per stored chunk: the losers' uploads were removed.
    const objects: string[] = [];
    for await (const o of app.rt.store.list(`streams/${id}/chunks/`)) objects.push(o.key);
    expect(objects.length).toBe(2);
  }, 60_000);

  test("a missing seq holds the live playlist only for the gap wait, then a discontinuity; the late chunk still reaches the recording", async () => {
    const chunks = await makeChunks("ts-h264-aac", 4, 1, "160x120");
    const id = await createStream();
    for (const i of [0, 2, 3]) expect((await putChunk(id, i, chunks[i]!, "video/mp2t")).status).toBe(201);
    let list = "";
    for (let i = 0; i < 100 && !list.includes("segments/3.ts"); i++) {
      await Bun.sleep(200);
      list = await (await app.request(`/api/v1/streams/${id}/hls/index.m3u8`, { headers: auth() })).text();
    }
    expect(list.match(/segments\/(\d+)\.ts/g)).toEqual(["segments/0.ts", "segments/2.ts", "segments/3.ts"]);
    expect(list).toContain("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME");
    expect((await putChunk(id, 1, chunks[1]!, "video/mp2t")).status).toBe(201);
    await app.request(`/api/v1/streams/${id}/finish`, { method: "POST", headers: auth() });
    const s = await settled(id, true);
    expect(s.segments).toBe(4);
    const final = await (await app.request(`/api/v1/streams/${id}/hls/index.m3u8`, { headers: auth() })).text();
    expect(final.match(/segments\/(\d+)\.ts/g)).toEqual(["segments/0.ts", "segments/1.ts", "segments/2.ts", "segments/3.ts"]);
    expect(final).toContain("#EXT-X-ENDLIST");
  }, 90_000);
});

describe("hostile and malformed input gets a precise answer and harms nothing", () => {
  let id: string;
  let good: Uint8Array<ArrayBuffer>;
  beforeAll(async () => {
    good = (await makeChunks("mp4-h264-aac", 1, 1, "160x120"))[0]!;
    id = await createStream();
  }, 60_000);

  const problem = async (res: Response, status: number) => {
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    return (await res.json()) as { detail: string };
  };

  test("bad seq values are 400", async () => {
    for (const seq of ["-1", "1e12", "abc", "1.5", "99999999", "%20", "0x1"]) await problem(await putChunk(id, seq, good, "video/mp4"), 400);
  });
  test("empty body is 400, text labelled video/mp4 is 415, unknown container is 415", async () => {
    await problem(await putChunk(id, 0, new Uint8Array(0), "video/mp4"), 400);
    await problem(await putChunk(id, 0, "this is not a video, just text pretending", "video/mp4"), 415);
    await problem(await putChunk(id, 0, good, "application/pdf"), 415);
    await problem(await app.request(`/api/v1/streams/${id}/chunks/0`, { method: "PUT", headers: auth(), body: good }), 415);
  });
  test("over the size limit is 413 and nothing is stored", async () => {
    const big = new Uint8Array(5 * 1024 * 1024);
    big.set(good.subarray(0, 64));
    await problem(await putChunk(id, 5, big, "video/mp4"), 413);
    // Without a Content-Length the limit is enforced while streaming.
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(good.subarray(0, 64));
        for (let i = 0; i < 5; i++) c.enqueue(new Uint8Array(1024 * 1024));
        c.close();
      },
    });
    await problem(
      await app.request(`/api/v1/streams/${id}/chunks/6`, { method: "PUT", headers: { ...auth(), "content-type": "video/mp4" }, body: stream }),
      413,
    );
    const objects: string[] = [];
    for await (const o of app.rt.store.list(`streams/${id}/`)) objects.push(o.key);
    expect(objects).toEqual([]);
  });
  test("bad X-Chunk-Start is 400; unknown stream is 404; another reporter's stream is 404; a viewer cannot upload", async () => {
    await problem(await putChunk(id, 0, good, "video/mp4", { "x-chunk-start": "yesterday" }), 400);
    await problem(await putChunk(crypto.randomUUID(), 0, good, "video/mp4"), 404);
    await problem(await putChunk(id, 0, good, "video/mp4", {}, otherToken), 404);
    await problem(await app.request(`/api/v1/streams/${id}/hls/index.m3u8`, { headers: auth(otherToken) }), 404);
    await problem(await app.request("/api/v1/streams", json({}, { headers: auth(viewerToken) })), 403);
  });
  test("a truncated file and a file claiming a 10-hour duration become failed chunks with a reason; the stream goes on", async () => {
    const sid = await createStream();
    const [c0, c2] = await makeChunks("mp4-h264-aac", 2, 1, "160x120");
    expect((await putChunk(sid, 0, c0!, "video/mp4")).status).toBe(201);
    expect((await putChunk(sid, 1, c0!.subarray(0, Math.floor(c0!.length / 2)), "video/mp4")).status).toBe(201);
    const long = await makeLongClaim();
    expect((await putChunk(sid, 2, long, "video/x-matroska")).status).toBe(201);
    expect((await putChunk(sid, 3, c2!, "video/mp4")).status).toBe(201);
    const s = await settled(sid);
    expect(s.failed_chunks.map((f: any) => f.seq)).toEqual([1, 2]);
    for (const f of s.failed_chunks) {
      expect(f.reason.length).toBeGreaterThan(5);
      // Reporters read these: one line of ours, never a tool's output naming server paths.
      expect(f.reason).not.toMatch(/\n|\/tmp\/|rter-job-|ffprobe|Stream #/);
    }
    expect(s.segments).toBe(2);
  }, 60_000);
  test("a chunk after finish is 409; finish is idempotent", async () => {
    const sid = await createStream();
    expect((await app.request(`/api/v1/streams/${sid}/finish`, { method: "POST", headers: auth() })).status).toBe(200);
    expect((await app.request(`/api/v1/streams/${sid}/finish`, { method: "POST", headers: auth() })).status).toBe(200);
    await problem(await putChunk(sid, 0, good, "video/mp4"), 409);
  });
  test("Idempotency-Key: a retry returns the same stream; another body is 422", async () => {
    const key = `k-${crypto.randomUUID()}`;
    const a = await app.request("/api/v1/streams", json({ title: "fire" }, { headers: { ...auth(), "idempotency-key": key } }));
    const b = await app.request("/api/v1/streams", json({ title: "fire" }, { headers: { ...auth(), "idempotency-key": key } }));
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(((await b.json()) as { id: string }).id).toBe(((await a.json()) as { id: string }).id);
    await problem(await app.request("/api/v1/streams", json({ title: "flood" }, { headers: { ...auth(), "idempotency-key": key } })), 422);
    await problem(await app.request("/api/v1/streams", json({}, { headers: { ...auth(), "idempotency-key": "bad key with spaces" } })), 400);
  });
  test("telemetry: deduplicated by t; out-of-range values are 400", async () => {
    const t = Date.now();
    const body = {
      samples: [
        { t, lat: 45.5, lng: -73.6, heading: 90 },
        { t, lat: 45.5, lng: -73.6 },
        { t: new Date(t + 1000).toISOString(), lat: 45.51, lng: -73.6, accuracy: 5 },
      ],
    };
    const r1 = await app.request(`/api/v1/streams/${id}/telemetry`, json(body, { headers: auth() }));
    expect(await r1.json()).toEqual({ accepted: 2, duplicates: 1 });
    const r2 = await app.request(`/api/v1/streams/${id}/telemetry`, json(body, { headers: auth() }));
    expect(await r2.json()).toEqual({ accepted: 0, duplicates: 3 });
    await problem(await app.request(`/api/v1/streams/${id}/telemetry`, json({ samples: [{ t, lat: 91, lng: 0 }] }, { headers: auth() })), 400);
    await problem(await app.request(`/api/v1/streams/${id}/telemetry`, json({ samples: [{ t: "soon", lat: 1, lng: 0 }] }, { headers: auth() })), 400);
    await problem(await app.request(`/api/v1/streams/${id}/telemetry`, json({ samples: [] }, { headers: auth() })), 400);
    const track = (await (await app.request(`/api/v1/streams/${id}/telemetry`, { headers: auth() })).json()) as unknown[];
    expect(track).toHaveLength(2);
  });
});

/** A tiny Matroska file whose header claims ten hours: the worker must refuse it without decoding. */
async function makeLongClaim(): Promise<Uint8Array<ArrayBuffer>> {
  const out = `/tmp/rter-long-${crypto.randomUUID()}.mkv`;
  const r = await run(
    [
      "ffmpeg",
      "-v",
      "error",
      "-f",
      "lavfi",
      "-i",
      "color=size=64x64:rate=1:duration=36000",
      "-c:v",
      "libx264",
      "-preset",
      "ultrafast",
      "-g",
      "36000",
      "-t",
      "36000",
      "-y",
      out,
    ],
    120_000,
  );
  if (r.code !== 0) throw new Error(r.stderr);
  const bytes = new Uint8Array(await Bun.file(out).arrayBuffer());
  await Bun.file(out).delete();
  return bytes;
}
