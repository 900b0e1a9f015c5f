import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import pg from "pg";
import { addUser, createToken } from "../../core/auth/auth.service.ts";
import { PARTS_CHANNEL } from "../../core/streams/cmaf.model.ts";
import { json, startTestApp, type TestApp } from "../support/app.ts";
import { box, concat, findType, makeCmaf, topBoxes, type CmafMedia } from "../support/cmaf.ts";
import { makeChunks } from "../support/media.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";

let app: TestApp;
let minio: TestMinio;
let dbUrl: string;
let token: string;
let media: CmafMedia;
/** Another encode (bigger picture): its init differs from media's. */
let other: CmafMedia;
let listener: pg.Client;
const notified: string[] = [];

beforeAll(async () => {
  minio = await startMinio();
  dbUrl = await testDatabaseUrl();
  app = await startTestApp({ "database-url": dbUrl, "storage-url": minio.url, roles: "api", "max-chunk-bytes": "4MiB" });
  await addUser(app.rt.database.db, { email: "cmaf@city.example", role: "reporter", password: "long enough pw" });
  token = (await createToken(app.rt.database.db, { email: "cmaf@city.example", name: "t", ttlMs: 3_600_000 })).token;
  [media, other] = await Promise.all([makeCmaf({ seconds: 4 }), makeCmaf({ seconds: 1, size: "352x288" })]);
  listener = new pg.Client({ connectionString: dbUrl });
  await listener.connect();
  listener.on("notification", (n) => notified.push(n.payload ?? ""));
  await listener.query(`LISTEN ${PARTS_CHANNEL}`);
}, 120_000);
afterAll(async () => {
  await listener?.end();
  await app?.stop();
  await minio?.stop();
});

const headers = () => ({ authorization: `Bearer ${token}` });
const sha = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");
const db = () => app.rt.database.db;

async function newStream(): Promise<string> {
  const res = await app.request("/api/v1/streams", json({ title: "cmaf" }, { headers: headers() }));
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}
function putInit(id: string, bytes: Uint8Array<ArrayBuffer>, contentType = "video/mp4") {
  return app.request(`/api/v1/streams/${id}/init`, { method: "PUT", headers: { ...headers(), "content-type": contentType }, body: bytes });
}
function putPart(id: string, seq: number, bytes: Uint8Array<ArrayBuffer>, extra: Record<string, string> = {}) {
  return app.request(`/api/v1/streams/${id}/chunks/${seq}`, {
    method: "PUT",
    headers: { ...headers(), "content-type": "video/iso.segment", ...extra },
    body: bytes,
  });
}
async function rows(id: string) {
  return db().selectFrom("chunks").selectAll().where("stream_id", "=", id).orderBy("seq").execute();
}
async function view(id: string): Promise<any> {
  return (await app.request(`/api/v1/streams/${id}`, { headers: headers() })).json();
}
/** A stream with the init and seq 0 stored. */
async function startedStream(): Promise<string> {
  const id = await newStream();
  expect((await putInit(id, media.init)).status).toBe(201);
  expect((await putPart(id, 0, media.chunks[0]!)).status).toBe(201);
  return id;
}
async function problem(res: Response): Promise<{ status: number; type: string | null; body: any }> {
  return { status: res.status, type: res.headers.get("content-type"), body: await res.json() };
}
const u32 = (b: Uint8Array, p: number, v: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(p, v);
/** A copy with the u32 `offset` bytes into the first box of `type` set to v. */
function patched(b: Uint8Array, type: string, offset: number, v: number): Uint8Array<ArrayBuffer> {
  const out = b.slice();
  u32(out, findType(out, type) - 4 + offset, v);
  return out;
}

describe("CMAF ingest: init and parts", () => {
  test("init 201, identical retry 200, different bytes 409; parts in order, retried, out of order and in parallel are all listed, hashed and stored", async () => {
    const id = await newStream();
    const first = await putInit(id, media.init);
    expect(first.status).toBe(201);
    const init = (await first.json()) as any;
    expect(init.sha256).toBe(sha(media.init));
    expect(init.tracks).toEqual([
      { id: 1, kind: "video", timescale: 15360, codec: "avc1" },
      { id: 2, kind: "audio", timescale: 48000, codec: "Opus" },
    ]);
    expect((await putInit(id, media.init)).status).toBe(200);
    const differs = await problem(await putInit(id, other.init));
    expect(differs.status).toBe(409);
    expect(differs.body.stored_sha256).toBe(sha(media.init));

    const t0 = Date.now();
    const r0 = await putPart(id, 0, media.chunks[0]!, { "x-chunk-start": String(t0) });
    expect(r0.status).toBe(201);
    expect(await r0.json()).toEqual({ seq: 0, sha256: sha(media.chunks[0]!) });
    expect((await putPart(id, 0, media.chunks[0]!)).status).toBe(200);
    expect((await putPart(id, 0, media.chunks[1]!)).status).toBe(409);

    // The rest out of order, all at once, each twice (a retry racing its original).
    const rest = media.chunks
      .map((_, i) => i)
      .slice(1)
      .reverse();
    const answers = await Promise.all([...rest, ...rest].map((seq) => putPart(id, seq, media.chunks[seq]!)));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 201).length).toBe(rest.length);
    expect(statuses.filter((s) => s === 200).length).toBe(rest.length);

    const stored = await rows(id);
    expect(stored.map((r) => r.seq)).toEqual(media.chunks.map((_, i) => i));
    expect(stored.every((r) => r.state === "listed" && !r.late && r.content_type === "video/iso.segment")).toBe(true);
    expect(new Date(stored[0]!.capture_start!).getTime()).toBe(t0);
    for (let i = 1; i < stored.length; i++) {
      const [a, b] = [stored[i - 1]!.media as any, stored[i]!.media as any];
      for (const t of b.tracks)
        expect({ seq: i, track: t.id, start: t.start }).toEqual({ seq: i, track: t.id, start: a.tracks.find((x: any) => x.id === t.id).end });
    }
    expect(stored.reduce((n, r) => n + r.duration!, 0)).toBeCloseTo(4, 1);
    expect(stored[0]!.independent).toBe(true);
    // Key frame each second, parts of ~0.27 s: 4 of them start with one.
    expect(stored.filter((r) => r.independent).length).toBe(4);
    // The stored objects are the bytes sent.
    for (const r of [stored[0]!, stored.at(-1)!]) {
      expect(r.object_key).toMatch(new RegExp(`^streams/${id}/parts/${r.seq}/[0-9a-f-]{36}\\.m4s$`));
      expect(sha(await app.rt.store.getBytes(r.object_key))).toBe(r.sha256);
    }
    // Objects of the uploads that lost their race were removed.
    const keys: string[] = [];
    for await (const o of app.rt.store.list(`streams/${id}/parts/`)) keys.push(o.key);
    expect(keys.length).toBe(media.chunks.length);

    const audit = await db()
      .selectFrom("audit_log")
      .select(["action", "detail", "actor_id", "request_id", "seq", "hash"])
      .where("target_id", "=", id)
      .execute();
    expect(audit.filter((a) => a.action === "init.stored").length).toBe(1);
    const chunkEntries = audit.filter((a) => a.action === "chunk.stored");
    expect(chunkEntries.length).toBe(media.chunks.length);
    // Written in the part's own statement: still the caller's entry, in the hash chain, naming the bytes.
    const owner = (await db().selectFrom("streams").select("owner_id").where("id", "=", id).executeTakeFirstOrThrow()).owner_id;
    for (const a of chunkEntries) {
      expect(a.actor_id).toBe(owner);
      expect(a.request_id).toBeTruthy();
      expect(a.seq).not.toBeNull();
      expect(a.hash).not.toBeNull();
      const d = a.detail as { seq: number; sha256: string };
      expect(d.sha256).toBe(stored.find((r) => r.seq === d.seq)!.sha256);
    }
    const events = await db().selectFrom("events").select(["type", "data"]).where("stream_id", "=", id).where("type", "=", "segment.created").execute();
    expect(events.map((e) => (e.data as any).seq).sort((a, b) => a - b)).toEqual(stored.filter((r) => r.independent).map((r) => r.seq));
    for (let i = 0; i < 100 && !notified.includes(id); i++) await Bun.sleep(50);
    expect(notified).toContain(id);

    const v = await view(id);
    expect(v.format).toBe("cmaf");
    expect(v.chunks).toBe(media.chunks.length);
    expect(v.segments).toBe(4);
    expect(v.duration).toBeCloseTo(4, 1);
  }, 60_000);

  test("the init is checked: not an init 400, a text track 415, another content type 415, too big 413; nothing stored", async () => {
    const id = await newStream();
    const text = media.init.slice();
    text.set(new TextEncoder().encode("text"), findType(text, "hdlr") + 12);
    const cases: [string, Promise<Response>, number, string?][] = [
      ["a fragment", putInit(id, media.chunks[0]!), 400, "missing_box"],
      ["init plus a fragment", putInit(id, concat(media.init, media.chunks[0]!)), 400, "unexpected_box"],
      ["truncated", putInit(id, media.init.slice(0, -20)), 400, "truncated"],
      ["a text track", putInit(id, text), 415, "unsupported"],
      ["video/webm", putInit(id, media.init, "video/webm"), 415],
      ["70 KiB", putInit(id, concat(media.init, box("free", new Uint8Array(70 * 1024)))), 413],
      ["empty", putInit(id, new Uint8Array(0)), 400],
    ];
    for (const [name, res, status, fault] of cases) {
      const p = await problem(await res);
      expect({ name, status: p.status, type: p.type }).toEqual({ name, status, type: "application/problem+json" });
      if (fault) expect({ name, fault: p.body.fault }).toEqual({ name, fault });
    }
    expect(await db().selectFrom("stream_inits").select("stream_id").where("stream_id", "=", id).execute()).toEqual([]);
    expect((await view(id)).format).toBeNull();
    expect((await putInit(id, media.init)).status).toBe(201);
  }, 60_000);

  test("a part before the init is 409", async () => {
    const id = await newStream();
    const p = await problem(await putPart(id, 0, media.chunks[0]!));
    expect(p.status).toBe(409);
    expect(p.body.detail).toContain("send the init segment first");
    expect(await rows(id)).toEqual([]);
  });
});

describe("hostile parts: a precise 4xx, nothing listed, the stream goes on", () => {
  const c = () => media.chunks;
  const cases: [string, () => Uint8Array<ArrayBuffer>, number, string, RegExp?][] = [
    ["truncated", () => c()[1]!.slice(0, -100), 400, "truncated", /mdat at \d+ claims \d+ bytes, \d+ remain/],
    ["moof claims more than the body", () => patched(c()[1]!, "moof", 0, 1 << 30), 400, "truncated"],
    ["moof claims less than its header", () => patched(c()[1]!, "moof", 0, 4), 400, "bad_size"],
    ["moof of size 0", () => patched(c()[1]!, "moof", 0, 0), 400, "bad_size"],
    [
      "64-bit size past the end",
      () => {
        const h = new Uint8Array(16);
        u32(h, 0, 1);
        h.set(new TextEncoder().encode("moof"), 4);
        u32(h, 8, 256);
        return concat(h, c()[1]!.subarray(8));
      },
      400,
      "truncated",
    ],
    ["moof without mdat", () => c()[1]!.slice(0, topBoxes(c()[1]!)[0]!.end), 400, "missing_box"],
    ["unknown track id", () => patched(c()[1]!, "tfhd", 12, 7), 422, "unknown_track", /track 7; the init has 1, 2/],
    ["decode time not following seq 0", () => c()[2]!, 422, "decode_time", /track 1: seq 1 starts at decode time \d+, seq 0 ends at \d+/],
    ["decode time going backwards inside the upload", () => concat(c()[1]!, patched(c()[2]!, "tfdt", 16, 0)), 422, "decode_time"],
    ["trun data offset outside the mdat", () => patched(c()[1]!, "trun", 16, 1 << 20), 400, "data_outside_mdat"],
    ["a sample size that lies", () => patched(c()[1]!, "trun", 24, 1 << 24), 400, "data_outside_mdat"],
    ["more than 2 s of media", () => concat(...c().slice(1, 10)), 422, "duration"],
    [
      "boxes nested 50 000 deep",
      () => {
        const n = 50_000;
        const out = new Uint8Array(n * 8 + 16);
        for (let i = 0; i < n; i++) {
          u32(out, i * 8, out.length - i * 8);
          out.set(new TextEncoder().encode(i ? "traf" : "moof"), i * 8 + 4);
        }
        return out;
      },
      400,
      "missing_box",
    ],
    ["100 000 tiny boxes", () => concat(...Array.from({ length: 100_000 }, () => box("free")), c()[1]!), 400, "too_complex"],
    ["random bytes", () => crypto.getRandomValues(new Uint8Array(50_000)), 400, ""],
    ["the init again", () => media.init, 400, "unexpected_box"],
  ];
  let id: string;
  beforeAll(async () => {
    id = await startedStream();
  });
  for (const [name, make, status, fault, detail] of cases) {
    test(name, async () => {
      const p = await problem(await putPart(id, 1, make()));
      expect({ status: p.status, type: p.type }).toEqual({ status, type: "application/problem+json" });
      if (fault) expect(p.body.fault).toBe(fault);
      if (detail) expect(p.body.detail).toMatch(detail);
      expect((await rows(id)).map((r) => r.seq)).toEqual([0]);
    }, 30_000);
  }
  test("an empty body is 400, a body over max-chunk-bytes 413", async () => {
    expect((await putPart(id, 1, new Uint8Array(0))).status).toBe(400);
    expect((await putPart(id, 1, new Uint8Array(5 * 1024 * 1024))).status).toBe(413);
  });
  test("after all that the next valid part is taken and the stream is fine", async () => {
    expect((await putPart(id, 1, media.chunks[1]!)).status).toBe(201);
    expect((await rows(id)).map((r) => [r.seq, r.state])).toEqual([
      [0, "listed"],
      [1, "listed"],
    ]);
    expect((await app.request("/healthz")).status).toBe(200);
  });

  test("seq 0 must start with a key frame; a part must end where the next stored one starts", async () => {
    const a = await newStream();
    expect((await putInit(a, media.init)).status).toBe(201);
    const p = await problem(await putPart(a, 0, media.chunks[1]!));
    expect(p.status).toBe(422);
    expect(p.body.fault).toBe("key_frame");
    expect((await putPart(a, 5, media.chunks[5]!)).status).toBe(201);
    const q = await problem(await putPart(a, 4, media.chunks[3]!));
    expect(q.status).toBe(422);
    expect(q.body.detail).toMatch(/seq 4 ends at decode time \d+, seq 5 starts at \d+/);
    expect((await putPart(a, 4, media.chunks[4]!)).status).toBe(201);
  });

  test("no key frame for more than 2 s of video is 422 at the part where it becomes so", async () => {
    const sparse = await makeCmaf({ seconds: 4, keyFrameEvery: 150 });
    const a = await newStream();
    expect((await putInit(a, sparse.init)).status).toBe(201);
    let refused = -1;
    for (let seq = 0; seq < sparse.chunks.length && refused < 0; seq++) {
      const res = await putPart(a, seq, sparse.chunks[seq]!);
      if (res.status !== 201) {
        const p = await problem(res);
        expect({ status: p.status, fault: p.body.fault }).toEqual({ status: 422, fault: "key_frame" });
        refused = seq;
      }
    }
    const listed = await rows(a);
    // Accepted while the parts since the key frame hold at most 2.1 s; the next one is refused.
    const total = listed.reduce((n, r) => n + r.duration!, 0);
    expect(refused).toBe(listed.length);
    expect(total).toBeLessThanOrEqual(2.1);
    expect(total + 0.3).toBeGreaterThan(2.1);
  }, 60_000);
});

describe("a stream is classic or CMAF from its first upload", () => {
  test("classic first: init and iso.segment are 409; CMAF first: a webm chunk is 409", async () => {
    const [webm] = await makeChunks("webm-vp8-opus", 1, 1);
    const classic = await newStream();
    const put = await app.request(`/api/v1/streams/${classic}/chunks/0`, {
      method: "PUT",
      headers: { ...headers(), "content-type": "video/webm" },
      body: webm!,
    });
    expect(put.status).toBe(201);
    expect((await view(classic)).format).toBe("classic");
    const i = await problem(await putInit(classic, media.init));
    expect(i.status).toBe(409);
    expect(i.body.detail).toContain("classic chunks");
    const s = await problem(await putPart(classic, 1, media.chunks[0]!));
    expect(s.status).toBe(409);
    expect(s.body.detail).toContain("classic chunks");

    const cmaf = await startedStream();
    const w = await problem(
      await app.request(`/api/v1/streams/${cmaf}/chunks/1`, { method: "PUT", headers: { ...headers(), "content-type": "video/webm" }, body: webm! }),
    );
    expect(w.status).toBe(409);
    expect(w.body.detail).toContain("CMAF");
    expect((await rows(cmaf)).map((r) => r.seq)).toEqual([0]);
  }, 60_000);

  test("a classic chunk and an init racing on a new stream: exactly one format wins", async () => {
    const [webm] = await makeChunks("webm-vp8-opus", 1, 1);
    for (let round = 0; round < 4; round++) {
      const id = await newStream();
      const [c, i] = await Promise.all([
        app.request(`/api/v1/streams/${id}/chunks/0`, { method: "PUT", headers: { ...headers(), "content-type": "video/webm" }, body: webm! }),
        putInit(id, media.init),
      ]);
      expect([c.status, i.status].sort()).toEqual([201, 409]);
      const v = await view(id);
      expect(v.format).toBe(c.status === 201 ? "classic" : "cmaf");
    }
  }, 60_000);
});

describe("the gap rule (core/streams/cmaf-gaps.ts) marks late parts", () => {
  test("a part for a gap the live list already jumped is stored late; one it still waits for is not", async () => {
    const id = await startedStream();
    expect((await putPart(id, 2, media.chunks[2]!)).status).toBe(201);
    // Fresh gap: seq 1 is still awaited.
    expect((await putPart(id, 1, media.chunks[1]!)).status).toBe(201);
    expect((await rows(id)).map((r) => [r.seq, r.late])).toEqual([
      [0, false],
      [1, false],
      [2, false],
    ]);

    expect((await putPart(id, 5, media.chunks[5]!)).status).toBe(201);
    // The part after the gap has waited longer than the gap wait (by the database's clock).
    await sql`update chunks set received_at = now() - interval '10 seconds' where stream_id = ${id} and seq = 5`.execute(db());
    expect((await putPart(id, 4, media.chunks[4]!)).status).toBe(201);
    expect((await putPart(id, 3, media.chunks[3]!)).status).toBe(201);
    const r = await rows(id);
    expect(r.map((x) => [x.seq, x.late])).toEqual([
      [0, false],
      [1, false],
      [2, false],
      [3, true],
      [4, true],
      [5, false],
    ]);
    // Late parts are kept and hashed like any other.
    expect(r.every((x) => x.state === "listed" && x.sha256 === sha(media.chunks[x.seq]!))).toBe(true);
  });
});
