import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import pg from "pg";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addUser, createToken } from "../../core/auth/auth.service.ts";
import { parseFragments, parseInit, type InitTrack } from "../../core/media/fmp4.ts";
import { makeCmaf, topBoxes, type CmafMedia } from "../support/cmaf.ts";
import { makeChunks, run } from "../support/media.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { json, startTestApp, type TestApp } from "../support/app.ts";

let app: TestApp;
let minio: TestMinio;
let token: string;
let media: CmafMedia;
let tracks: InitTrack[];
/** Per chunk: seconds (video decode span) and where it starts on the video timeline. */
let facts: { duration: number; startSec: number; independent: boolean }[];
const T0 = Date.parse("2026-11-28T09:00:00.000Z");

beforeAll(async () => {
  minio = await startMinio();
  app = await startTestApp({ "database-url": await testDatabaseUrl(), "storage-url": minio.url, roles: "api,worker", "worker-concurrency": "2" });
  const db = app.rt.database.db;
  await addUser(db, { email: "rep@city.example", role: "reporter", password: "long enough pw" });
  token = (await createToken(db, { email: "rep@city.example", name: "t", ttlMs: 3_600_000 })).token;
  media = await makeCmaf({ seconds: 8, fragMs: 250 });
  const init = parseInit(media.init);
  if (!init.ok) throw new Error(`test init does not parse: ${init.detail}`);
  tracks = init.tracks;
  const video = tracks.find((t) => t.kind === "video")!;
  facts = media.chunks.map((c) => {
    const f = parseFragments(c, init);
    if (!f.ok) throw new Error(`test fragment does not parse: ${f.detail}`);
    const v = f.tracks.find((r) => r.id === video.id)!;
    return { duration: v.duration / video.timescale, startSec: v.baseDecodeTime / video.timescale, independent: v.firstSampleIsKey };
  });
}, 120_000);
afterAll(async () => {
  await app?.stop();
  await minio?.stop();
});

const h = () => ({ authorization: `Bearer ${token}` });
const get = (path: string) => app.request(path, { headers: h() });

async function cmafStream(title: string): Promise<string> {
  const res = await app.request("/api/v1/streams", json({ title }, { headers: h() }));
  expect(res.status).toBe(201);
  const id = ((await res.json()) as { id: string }).id;
  const init = await app.request(`/api/v1/streams/${id}/init`, { method: "PUT", headers: { ...h(), "content-type": "video/mp4" }, body: media.init });
  expect(init.status).toBe(201);
  return id;
}

async function putPart(id: string, seq: number): Promise<void> {
  const res = await app.request(`/api/v1/streams/${id}/chunks/${seq}`, {
    method: "PUT",
    headers: { ...h(), "content-type": "video/iso.segment", "x-chunk-start": new Date(T0 + Math.round(facts[seq]!.startSec * 1000)).toISOString() },
    body: media.chunks[seq]!,
  });
  expect({ seq, status: res.status, body: res.status === 201 ? "" : await res.text() }).toEqual({ seq, status: 201, body: "" });
}

/** What a player reads from a live list: closed segments, and the parts of the open one. */
function parse(text: string) {
  const lines = text.trim().split("\n");
  const segments: { uri: string; dur: number; pdt: number; parts: string[] }[] = [];
  let pdt = 0;
  let parts: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.startsWith("#EXT-X-PROGRAM-DATE-TIME:")) pdt = Date.parse(l.slice(25));
    if (l.startsWith("#EXT-X-PART:")) parts.push(/URI="([^"]+)"/.exec(l)![1]!);
    if (l.startsWith("#EXTINF:")) {
      segments.push({ uri: lines[i + 1]!, dur: Number(l.slice(8, -1)), pdt, parts });
      parts = [];
    }
  }
  return { segments, openParts: parts, hint: /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"/.exec(text)?.[1] ?? null, ended: text.includes("#EXT-X-ENDLIST") };
}

async function bytes(path: string): Promise<Uint8Array> {
  const res = await get(path);
  expect({ path, status: res.status }).toEqual({ path, status: 200 });
  return new Uint8Array(await res.arrayBuffer());
}

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** ffmpeg decodes the bytes as fragmented MP4 without a word on stderr; returns its duration by ffprobe. */
async function decodes(file: Uint8Array): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "rter-llhls-"));
  try {
    const f = join(dir, "x.mp4");
    await Bun.write(f, file);
    const dec = await run(["ffmpeg", "-v", "error", "-f", "mp4", "-i", f, "-f", "null", "-"]);
    expect({ stderr: dec.stderr, code: dec.code }).toEqual({ stderr: "", code: 0 });
    const p = await run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", f]);
    return Number(p.stdout.trim());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Waits (bounded) until `n` requests are blocked in this node's part waiter. */
async function blockedRequests(n: number): Promise<void> {
  for (let i = 0; i < 500 && app.rt.parts!.pending < n; i++) await Bun.sleep(10);
  expect(app.rt.parts!.pending).toBe(n);
}

describe("a live CMAF stream as LL-HLS", () => {
  let id: string;
  const N = 10;

  test("blocking reload: held while the part is missing, answered once it commits, with that part", async () => {
    id = await cmafStream("ll-hls live");
    for (let s = 0; s < N; s++) await putPart(id, s);
    const list = parse(await (await get(`/api/v1/streams/${id}/hls/index.m3u8`)).text());
    expect(list.hint).toBe(`parts/${N}.m4s`);
    const msn = list.segments.length;
    const part = list.openParts.length;
    let answered = false;
    const pending = get(`/api/v1/streams/${id}/hls/index.m3u8?_HLS_msn=${msn}&_HLS_part=${part}`).then((r) => {
      answered = true;
      return r;
    });
    await blockedRequests(1);
    expect(answered).toBe(false);
    await putPart(id, N);
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/vnd.apple.mpegurl");
    const after = await res.text();
    expect(after).toContain(`URI="parts/${N}.m4s"`);
    expect(parse(after).hint).toBe(`parts/${N + 1}.m4s`);
  }, 60_000);

  test("the preload-hinted part is held until it commits, then served as uploaded", async () => {
    let answered = false;
    const pending = get(`/api/v1/streams/${id}/hls/parts/${N + 1}.m4s`).then((r) => {
      answered = true;
      return r;
    });
    await blockedRequests(1);
    expect(answered).toBe(false);
    await putPart(id, N + 1);
    const res = await pending;
    expect(res.status).toBe(200);
    const got = new Uint8Array(await res.arrayBuffer());
    expect(got).toEqual(media.chunks[N + 1]!);
    expect(res.headers.get("x-content-sha256")).toBe(new Bun.CryptoHasher("sha256").update(media.chunks[N + 1]!).digest("hex"));
    expect(res.headers.get("cache-control")).toContain("immutable");
    // A part far past the newest one is not waited for.
    expect((await get(`/api/v1/streams/${id}/hls/parts/${N + 50}.m4s`)).status).toBe(404);
  }, 60_000);

  test("more than two segments ahead is a 400 problem at once; malformed reload parameters are 400s", async () => {
    const list = parse(await (await get(`/api/v1/streams/${id}/hls/index.m3u8`)).text());
    const top = list.segments.length; // the open segment's msn
    const ahead = await get(`/api/v1/streams/${id}/hls/index.m3u8?_HLS_msn=${top + 3}`);
    expect(ahead.status).toBe(400);
    expect(ahead.headers.get("content-type")).toContain("application/problem+json");
    expect(((await ahead.json()) as { detail: string }).detail).toContain("too far ahead");
    expect((await get(`/api/v1/streams/${id}/hls/index.m3u8?_HLS_msn=${top}&_HLS_part=500`)).status).toBe(400);
    for (const q of [
      "_HLS_msn=-1",
      "_HLS_msn=abc",
      "_HLS_msn=1e3",
      "_HLS_msn=0x10",
      "_HLS_part=1",
      "_HLS_msn=",
      "_HLS_msn=99999999999999999999",
      "_HLS_msn=1&_HLS_part=%00",
    ]) {
      const r = await get(`/api/v1/streams/${id}/hls/index.m3u8?${q}`);
      expect({ q, status: r.status }).toEqual({ q, status: 400 });
    }
    // _HLS_skip is ignored: the whole list comes back.
    const skip = await get(`/api/v1/streams/${id}/hls/index.m3u8?_HLS_skip=YES`);
    expect(skip.status).toBe(200);
    expect(parse(await skip.text()).segments.length).toBe(list.segments.length);
    expect((await get("/healthz")).status).toBe(200);
  }, 60_000);

  test("parts and segments decode with ffmpeg; segments are their parts' bytes; durations add up; PDT is consistent", async () => {
    for (let s = N + 2; s < media.chunks.length; s++) await putPart(id, s);
    const text = await (await get(`/api/v1/streams/${id}/hls/index.m3u8`)).text();
    const list = parse(text);
    expect(text).toContain('#EXT-X-MAP:URI="init.mp4"');
    expect(text).not.toContain("#EXT-X-DISCONTINUITY");
    const init = await bytes(`/api/v1/streams/${id}/hls/init.mp4`);
    expect(init).toEqual(media.init);

    const parts: Uint8Array[] = [];
    for (let s = 0; s < media.chunks.length; s++) parts.push(await bytes(`/api/v1/streams/${id}/hls/parts/${s}.m4s`));
    const sumParts = facts.reduce((a, f) => a + f.duration, 0);
    expect(Math.abs((await decodes(cat(init, ...parts))) - sumParts) / sumParts).toBeLessThan(0.02);

    expect(list.segments.length).toBeGreaterThanOrEqual(2);
    const segs: Uint8Array[] = [];
    let covered = 0;
    for (const s of list.segments) {
      const [first, last] = /^segments\/(\d+)-(\d+)\.m4s$/.exec(s.uri)!.slice(1).map(Number) as [number, number];
      expect(first).toBe(covered); // segments follow each other, part after part
      expect(facts[first]!.independent).toBe(true);
      const seg = await bytes(`/api/v1/streams/${id}/hls/${s.uri}`);
      expect(seg).toEqual(cat(...parts.slice(first, last + 1)));
      const want = facts.slice(first, last + 1).reduce((a, f) => a + f.duration, 0);
      expect(s.dur).toBeCloseTo(want, 3);
      segs.push(seg);
      covered = last + 1;
    }
    const openSeqs = list.openParts.map((u) => Number(/parts\/(\d+)\.m4s/.exec(u)![1]));
    expect(openSeqs).toEqual(Array.from({ length: media.chunks.length - covered }, (_, i) => covered + i));
    const listed = list.segments.reduce((a, s) => a + s.dur, 0);
    expect(Math.abs((await decodes(cat(init, ...segs))) - listed) / listed).toBeLessThan(0.02);
    // PDT: each segment starts where the previous one's EXTINF ends (to the millisecond the phone sent).
    expect(list.segments[0]!.pdt).toBe(T0 + Math.round(facts[0]!.startSec * 1000));
    for (let i = 1; i < list.segments.length; i++)
      expect(Math.abs(list.segments[i]!.pdt - list.segments[i - 1]!.pdt - list.segments[i - 1]!.dur * 1000)).toBeLessThanOrEqual(2);
  }, 120_000);

  test("poster: a JPEG from a key frame, made by one low-priority job per stream at a time", async () => {
    const db = app.rt.database.db;
    const jobs = await sql<{
      n: string;
    }>`select count(*)::text as n from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 'make_part_poster' and j.key = ${`part-poster:${id}`}`.execute(
      db,
    );
    // Every key frame asked (about one a second), and they all joined one pending job.
    expect(Number(jobs.rows[0]!.n)).toBeLessThanOrEqual(1);
    let poster: Response | null = null;
    for (let i = 0; i < 100 && poster?.status !== 200; i++) {
      if (i) await Bun.sleep(200);
      poster = await get(`/api/v1/streams/${id}/poster.jpg`);
    }
    expect(poster!.status).toBe(200);
    const jpeg = new Uint8Array(await poster!.arrayBuffer());
    expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8]);
    const row = await db.selectFrom("streams").select("poster_key").where("id", "=", id).executeTakeFirstOrThrow();
    const seq = Number(/\/posters\/(\d+)-/.exec(row.poster_key!)![1]);
    expect(facts[seq]!.independent).toBe(true);
  }, 60_000);

  test("finished: VOD list with ENDLIST that ffmpeg plays through HTTP; the recording decodes and lasts the sum of the parts", async () => {
    expect((await app.request(`/api/v1/streams/${id}/finish`, { method: "POST", headers: h() })).status).toBe(200);
    const text = await (await get(`/api/v1/streams/${id}/hls/index.m3u8?_HLS_msn=999&_HLS_part=0`)).text();
    const list = parse(text);
    expect(list.ended).toBe(true);
    expect(text).not.toContain("#EXT-X-PART:");
    expect(list.hint).toBeNull();
    const sumParts = facts.reduce((a, f) => a + f.duration, 0);
    expect(list.segments.reduce((a, s) => a + s.dur, 0)).toBeCloseTo(sumParts, 2);
    const url = `${app.url}/api/v1/streams/${id}/hls/index.m3u8`;
    const headers = ["-headers", `Authorization: Bearer ${token}\r\n`];
    const dec = await run(["ffmpeg", "-v", "error", ...headers, "-i", url, "-f", "null", "-"]);
    expect({ stderr: dec.stderr, code: dec.code }).toEqual({ stderr: "", code: 0 });

    let s: any = null;
    for (let i = 0; i < 300 && !s?.recording; i++) {
      if (i) await Bun.sleep(200);
      s = await (await get(`/api/v1/streams/${id}`)).json();
    }
    expect(s.recording).not.toBeNull();
    const rec = await bytes(`/api/v1/streams/${id}/recording.mp4`);
    expect(new Bun.CryptoHasher("sha256").update(rec).digest("hex")).toBe(s.recording.sha256);
    // Faststart: one moov, before the media.
    expect(
      topBoxes(rec)
        .map((b) => b.type)
        .filter((t) => t !== "free"),
    ).toEqual(["ftyp", "moov", "mdat"]);
    expect(Math.abs((await decodes(rec)) - sumParts) / sumParts).toBeLessThan(0.02);
  }, 120_000);
});

describe("a part that does not come", () => {
  test("the live list waits 3 s at the gap, then jumps with a discontinuity and wakes the blocked request itself; the part arriving later is late, and in the finished list in its place", async () => {
    const id = await cmafStream("gap");
    for (const s of [0, 1, 2, 3, 5, 6]) await putPart(id, s);
    const before = parse(await (await get(`/api/v1/streams/${id}/hls/index.m3u8`)).text());
    expect(before.hint).toBe("parts/4.m4s");
    expect(before.openParts).toEqual(["parts/0.m4s", "parts/1.m4s", "parts/2.m4s", "parts/3.m4s"]);
    // Held for the next part: no commit comes, the gap wait ends, the list jumps to 5.
    let answered = false;
    const pending = get(`/api/v1/streams/${id}/hls/index.m3u8?_HLS_msn=${before.segments.length}&_HLS_part=4`).then((r) => {
      answered = true;
      return r;
    });
    await blockedRequests(1);
    expect(answered).toBe(false);
    const jumped = await (await pending).text();
    expect(jumped).toContain("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:");
    expect(jumped).toContain('URI="parts/5.m4s"');
    expect(jumped).not.toContain('URI="parts/4.m4s"');
    expect(parse(jumped).hint).toBe("parts/7.m4s");

    await putPart(id, 4);
    const row = await app.rt.database.db
      .selectFrom("chunks")
      .select(["late", "state"])
      .where("stream_id", "=", id)
      .where("seq", "=", 4)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ late: true, state: "listed" });
    expect(await (await get(`/api/v1/streams/${id}/hls/index.m3u8`)).text()).not.toContain("parts/4.m4s");

    expect((await app.request(`/api/v1/streams/${id}/finish`, { method: "POST", headers: h() })).status).toBe(200);
    const done = await (await get(`/api/v1/streams/${id}/hls/index.m3u8`)).text();
    expect(parse(done).segments.map((g) => g.uri)).toEqual(["segments/0-3.m4s", "segments/4-4.m4s", "segments/5-6.m4s"]);
    expect(done).not.toContain("#EXT-X-DISCONTINUITY");
  }, 60_000);
});

describe("many viewers of one stream", () => {
  test("20 blocked reloads are all answered by one commit, sharing reads of the list instead of one query each", async () => {
    const id = await cmafStream("crowd");
    for (const s of [0, 1, 2]) await putPart(id, s);
    const list = parse(await (await get(`/api/v1/streams/${id}/hls/index.m3u8`)).text());
    const url = `/api/v1/streams/${id}/hls/index.m3u8?_HLS_msn=${list.segments.length}&_HLS_part=${list.openParts.length}`;
    const pending = Array.from({ length: 20 }, () => get(url));
    await blockedRequests(20);
    const metrics = await (await app.request("/metrics")).text();
    expect(metrics).toContain("\nrter_llhls_part_listener_up 1\n");
    expect(metrics).toContain("\nrter_llhls_blocked_requests 20\n");
    const lists = app.rt.llLists!;
    const before = lists.reads;
    await putPart(id, 3);
    const answers = await Promise.all(pending.map(async (p) => (await p).text()));
    expect(answers.every((t) => t.includes('URI="parts/3.m4s"'))).toBe(true);
    expect(lists.reads - before).toBeLessThanOrEqual(5);
  }, 60_000);
});

describe("a reload nothing answers", () => {
  test("a blocked reload whose part never comes is answered 503 with Retry-After after 3 target durations, and leaves no waiter behind", async () => {
    const id = await cmafStream("silent");
    for (const s of [0, 1, 2]) await putPart(id, s);
    const list = parse(await (await get(`/api/v1/streams/${id}/hls/index.m3u8`)).text());
    const res = await get(`/api/v1/streams/${id}/hls/index.m3u8?_HLS_msn=${list.segments.length + 2}`);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(app.rt.parts!.pending).toBe(0);
  }, 60_000);

  test("a held reload whose list read is stuck (the parts table locked) is still answered 503 at its deadline, while the read is stuck", async () => {
    const id = await cmafStream("stuck");
    for (const s of [0, 1, 2]) await putPart(id, s);
    const list = parse(await (await get(`/api/v1/streams/${id}/hls/index.m3u8`)).text());
    const pending = app.rt.parts!.pending;
    const answer = get(`/api/v1/streams/${id}/hls/index.m3u8?_HLS_msn=${list.segments.length + 2}`);
    for (let i = 0; i < 200 && app.rt.parts!.pending === pending; i++) await Bun.sleep(10);
    expect(app.rt.parts!.pending).toBeGreaterThan(pending);
    const locker = new pg.Client({ connectionString: app.rt.database.url });
    await locker.connect();
    let locked = true;
    try {
      await locker.query("begin");
      await locker.query("lock table chunks in access exclusive mode");
      // A commit notice for the stream wakes the held request: its next read of the list waits on the lock.
      await app.rt.database.db.executeQuery(sql`select pg_notify('rter_parts', ${id})`.compile(app.rt.database.db));
      const res = await Promise.race([answer, Bun.sleep(45_000).then(() => null)]);
      const whileLocked = locked;
      expect(res?.status).toBe(503);
      expect(whileLocked).toBe(true);
      // The hold's own answer, not the database's statement timeout (which comes much later).
      expect(((await res!.json()) as { detail: string }).detail).toMatch(/did not arrive in time/);
    } finally {
      await locker.query("rollback").catch(() => {});
      locked = false;
      await locker.end();
    }
  }, 90_000);
});

describe("who may read a list the node remembers", () => {
  test("a node that knows a CMAF stream skips its row at each reload, yet a reporter who is not its owner, a user demoted meanwhile and a deleted stream get 404", async () => {
    const db = app.rt.database.db;
    const other = `other-${crypto.randomUUID()}@city.example`;
    const desk = `desk-${crypto.randomUUID()}@city.example`;
    await addUser(db, { email: other, role: "reporter", password: "long enough pw" });
    await addUser(db, { email: desk, role: "operator", password: "long enough pw" });
    const otherToken = (await createToken(db, { email: other, name: "t", ttlMs: 3_600_000 })).token;
    const deskToken = (await createToken(db, { email: desk, name: "t", ttlMs: 3_600_000 })).token;
    const list = (id: string, t: string) => app.request(`/api/v1/streams/${id}/hls/index.m3u8`, { headers: { authorization: `Bearer ${t}` } });

    const id = await cmafStream("remembered");
    await putPart(id, 0);
    expect((await list(id, token)).status).toBe(200);
    expect(app.rt.llLists!.knownCmaf(id.toUpperCase())).toEqual({ id, owner_id: expect.any(String) });
    // Remembered, still the owner's: another reporter gets the 404 a missing stream gets; an operator sees it.
    expect((await list(id, otherToken)).status).toBe(404);
    expect((await list(id, deskToken)).status).toBe(200);

    // The operator demoted to reporter elsewhere: the credential notice ends it (the role is judged per request).
    await sql`update users set role = 'reporter' where email = ${desk}`.execute(db);
    let status = 200;
    for (let i = 0; i < 100 && status === 200; i++) {
      status = (await list(id, deskToken)).status;
      if (status === 200) await Bun.sleep(50);
    }
    expect(status).toBe(404);

    // Deleted: the list read finds the row gone (no empty list from memory), blocked reloads too.
    const { deleteStream } = await import("../../core/retention/retention.service.ts");
    await deleteStream({ db, store: app.rt.store!, log: app.rt.log }, id, "admin");
    const gone = await list(id, token);
    expect(gone.status).toBe(404);
    expect(await gone.text()).toContain("no such stream");
    expect((await app.request(`/api/v1/streams/${id}/hls/index.m3u8?_HLS_msn=0&_HLS_part=1`, { headers: h() })).status).toBe(404);
    expect(app.rt.llLists!.knownCmaf(id)).toBeUndefined();
  }, 60_000);
});

describe("classic and CMAF stay apart", () => {
  test("a classic stream has no init, parts or .m4s segments; a CMAF stream no .ts segments", async () => {
    const res = await app.request("/api/v1/streams", json({ title: "classic" }, { headers: h() }));
    const classic = ((await res.json()) as { id: string }).id;
    const [chunk] = await makeChunks("ts-h264-aac", 1, 1, "160x120");
    expect(
      (await app.request(`/api/v1/streams/${classic}/chunks/0`, { method: "PUT", headers: { ...h(), "content-type": "video/mp2t" }, body: chunk! })).status,
    ).toBe(201);
    for (const p of ["hls/init.mp4", "hls/parts/0.m4s", "hls/segments/0-0.m4s"])
      expect({ p, status: (await get(`/api/v1/streams/${classic}/${p}`)).status }).toEqual({ p, status: 404 });
    expect((await get(`/api/v1/streams/${classic}/hls/index.m3u8`)).headers.get("content-type")).toBe("application/vnd.apple.mpegurl");
    expect(await (await get(`/api/v1/streams/${classic}/hls/index.m3u8`)).text()).toContain("#EXT-X-VERSION:3");

    const cmaf = await cmafStream("cmaf");
    await putPart(cmaf, 0);
    expect((await get(`/api/v1/streams/${cmaf}/hls/segments/0.ts`)).status).toBe(404);
    // A range that is not all there, reversed, or longer than any segment: 404, never a partial body.
    for (const r of ["0-1", "1-0", "0-100"])
      expect({ r, status: (await get(`/api/v1/streams/${cmaf}/hls/segments/${r}.m4s`)).status }).toEqual({ r, status: 404 });
    expect((await get(`/api/v1/streams/${cmaf}/hls/segments/0-0.m4s`)).status).toBe(200);
    // Part names that are not {seq}.m4s: 404 like a missing part, never a 500 or a wait.
    for (const f of ["abc.m4s", "0.ts", "-1.m4s", "1.5.m4s", "99999999.m4s", "%2e%2e%2finit.mp4"]) {
      const r = await get(`/api/v1/streams/${cmaf}/hls/parts/${f}`);
      expect({ f, status: r.status }).toEqual({ f, status: 404 });
    }
    // A control character anywhere in a path is refused at the edge (app/http.ts), before routing.
    expect((await get(`/api/v1/streams/${cmaf}/hls/parts/0.m4s%00`)).status).toBe(400);
  }, 60_000);
});
