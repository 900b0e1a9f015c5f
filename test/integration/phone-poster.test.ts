import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addUser, createToken } from "../../core/auth/auth.service.ts";
import { json, startTestApp, type TestApp } from "../support/app.ts";
import { makeCmaf, type CmafMedia } from "../support/cmaf.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";

// The phone's grid still (PUT /streams/{id}/poster): checked in process, stored, served, and it
// keeps the batch poster job from running for a CMAF stream while it is fresh.
let app: TestApp;
let minio: TestMinio;
let reporter: string;
let other: string;
let media: CmafMedia;
let still: Uint8Array<ArrayBuffer>;

function jpeg(size: string): Uint8Array<ArrayBuffer> {
  const dir = mkdtempSync(join(tmpdir(), "rter-poster-"));
  try {
    const out = join(dir, "p.jpg");
    const r = Bun.spawnSync(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", `testsrc2=size=${size}:rate=1`, "-frames:v", "1", "-q:v", "6", out]);
    if (r.exitCode !== 0) throw new Error(r.stderr.toString());
    return new Uint8Array(readFileSync(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const db = () => app.rt.database!.db;
const auth = (t: string) => ({ authorization: `Bearer ${t}` });
function putPoster(id: string, body: BodyInit | null, headers: Record<string, string> = {}, t = reporter) {
  return app.request(`/api/v1/streams/${id}/poster`, { method: "PUT", headers: { ...auth(t), "content-type": "image/jpeg", ...headers }, body });
}
async function newStream(t = reporter): Promise<string> {
  const res = await app.request("/api/v1/streams", json({ title: "poster" }, { headers: auth(t) }));
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}
const posterRow = (id: string) => db().selectFrom("streams").select(["poster_key", "poster_at"]).where("id", "=", id).executeTakeFirstOrThrow();
async function posterJobs(id: string): Promise<number> {
  const r = await sql<{
    n: string;
  }>`select count(*)::text as n from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 'make_part_poster' and j.key = ${`part-poster:${id}`}`.execute(
    db(),
  );
  return Number(r.rows[0]!.n);
}

beforeAll(async () => {
  minio = await startMinio();
  app = await startTestApp({ "database-url": await testDatabaseUrl(), "storage-url": minio.url, roles: "api" });
  await addUser(db(), { email: "poster@city.example", role: "reporter", password: "long enough pw" });
  await addUser(db(), { email: "poster2@city.example", role: "reporter", password: "long enough pw" });
  reporter = (await createToken(db(), { email: "poster@city.example", name: "t", ttlMs: 3_600_000 })).token;
  other = (await createToken(db(), { email: "poster2@city.example", name: "t", ttlMs: 3_600_000 })).token;
  media = await makeCmaf({ seconds: 2 });
  still = jpeg("320x180");
}, 120_000);
afterAll(async () => {
  await app?.stop();
  await minio?.stop();
});

describe("the phone's poster", () => {
  test("stored as sent, served as image/jpeg, announced; while fresh, CMAF key frames enqueue no poster job", async () => {
    const id = await newStream();
    const r = await putPoster(id, still);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ width: 320, height: 180 });
    const row = await posterRow(id);
    expect(row.poster_key).toMatch(new RegExp(`^streams/${id}/posters/phone-[0-9a-f-]{36}\\.jpg$`));
    const served = await app.request(`/api/v1/streams/${id}/poster.jpg`, { headers: auth(reporter) });
    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toStartWith("image/jpeg");
    expect(new Uint8Array(await served.arrayBuffer())).toEqual(still);
    const ev = await db().selectFrom("events").select(["type", "data"]).where("stream_id", "=", id).where("type", "=", "poster.updated").execute();
    expect(ev.length).toBe(1);

    // A second still replaces the first; the old object is gone.
    expect((await putPoster(id, jpeg("640x360"))).status).toBe(200);
    const row2 = await posterRow(id);
    expect(row2.poster_key).not.toBe(row.poster_key);
    const keys: string[] = [];
    for await (const o of app.rt.store!.list(`streams/${id}/posters/`)) keys.push(o.key);
    expect(keys).toEqual([row2.poster_key!]);

    // CMAF parts with key frames right after: the poster is fresh, so no batch job.
    expect(
      (await app.request(`/api/v1/streams/${id}/init`, { method: "PUT", headers: { ...auth(reporter), "content-type": "video/mp4" }, body: media.init }))
        .status,
    ).toBe(201);
    for (let seq = 0; seq < media.chunks.length; seq++) {
      const p = await app.request(`/api/v1/streams/${id}/chunks/${seq}`, {
        method: "PUT",
        headers: { ...auth(reporter), "content-type": "video/iso.segment" },
        body: media.chunks[seq]!,
      });
      expect(p.status).toBe(201);
    }
    expect(await posterJobs(id)).toBe(0);

    // Control: a stream whose phone sends no still gets the batch job.
    const plain = await newStream();
    expect(
      (await app.request(`/api/v1/streams/${plain}/init`, { method: "PUT", headers: { ...auth(reporter), "content-type": "video/mp4" }, body: media.init }))
        .status,
    ).toBe(201);
    expect(
      (
        await app.request(`/api/v1/streams/${plain}/chunks/0`, {
          method: "PUT",
          headers: { ...auth(reporter), "content-type": "video/iso.segment" },
          body: media.chunks[0]!,
        })
      ).status,
    ).toBe(201);
    expect(await posterJobs(plain)).toBe(1);
  }, 60_000);

  test("stills sent at once: one row update and one announcement each, and only the still the row points to is left in storage", async () => {
    const id = await newStream();
    const answers = await Promise.all(Array.from({ length: 6 }, () => putPoster(id, still)));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const row = await posterRow(id);
    const keys: string[] = [];
    for await (const o of app.rt.store!.list(`streams/${id}/posters/`)) keys.push(o.key);
    // Each replaced still is deleted by the upload that replaced it: none is left behind.
    expect(keys).toEqual([row.poster_key!]);
    const ev = await db().selectFrom("events").select("owner_id").where("stream_id", "=", id).where("type", "=", "poster.updated").execute();
    expect(ev.length).toBe(6);
    expect(new Set(ev.map((e) => e.owner_id)).size).toBe(1);
    // A stream that is gone: 404, nothing announced.
    expect((await putPoster(crypto.randomUUID(), still)).status).toBe(404);
  }, 60_000);

  test("hostile and wrong uploads: a precise 4xx, the stored poster unchanged, the server alive", async () => {
    const id = await newStream();
    expect((await putPoster(id, still)).status).toBe(200);
    const before = await posterRow(id);
    const big = jpeg("2560x1440");
    const giantClaim = still.slice();
    for (let i = 2; i < giantClaim.length - 8; i++)
      if (giantClaim[i] === 0xff && giantClaim[i + 1] === 0xc0) {
        giantClaim.set([0xff, 0xff, 0xff, 0xff], i + 5);
        break;
      }
    const cases: [string, () => Promise<Response>, number, RegExp][] = [
      ["a PNG signature", () => putPoster(id, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10])), 400, /not a JPEG/],
      ["HTML dressed as JPEG", () => putPoster(id, "<html><script>alert(1)</script></html>"), 400, /not a JPEG/],
      ["truncated", () => putPoster(id, still.slice(0, still.length - 50)), 400, /truncated/],
      ["empty", () => putPoster(id, new Uint8Array(0)), 400, /empty/],
      ["over 256 KiB", () => putPoster(id, new Uint8Array(300 * 1024).fill(0xff)), 413, /exceeds/],
      ["a lying Content-Length", () => putPoster(id, still, { "content-length": String(10 * 1024 * 1024) }), 413, /exceeds/],
      ["a frame bigger than 1920 a side", () => putPoster(id, big), 422, /1920/],
      ["a frame header claiming 65535×65535", () => putPoster(id, giantClaim), 422, /65535/],
      ["another content type", () => putPoster(id, still, { "content-type": "image/png" }), 415, /image\/jpeg/],
      ["no content type", () => app.request(`/api/v1/streams/${id}/poster`, { method: "PUT", headers: auth(reporter), body: still }), 415, /image\/jpeg/],
      ["someone else's stream", () => putPoster(id, still, {}, other), 404, /no such stream/],
      ["a malformed stream id", () => putPoster("not-a-uuid", still), 400, /.+/],
      ["no token", () => app.request(`/api/v1/streams/${id}/poster`, { method: "PUT", headers: { "content-type": "image/jpeg" }, body: still }), 401, /.+/],
    ];
    for (const [name, send, status, detail] of cases) {
      const res = await send();
      expect({ name, status: res.status }).toEqual({ name, status });
      expect(res.headers.get("content-type")).toStartWith("application/problem+json");
      const body = (await res.json()) as { detail?: string; title?: string };
      expect(`${body.title} ${body.detail}`).toMatch(detail);
    }
    expect(await posterRow(id)).toEqual(before);
    const keys: string[] = [];
    for await (const o of app.rt.store!.list(`streams/${id}/posters/`)) keys.push(o.key);
    expect(keys).toEqual([before.poster_key!]);

    // A finished stream takes no still.
    expect((await app.request(`/api/v1/streams/${id}/finish`, { method: "POST", headers: auth(reporter) })).status).toBeLessThan(300);
    const done = await putPoster(id, still);
    expect(done.status).toBe(409);
    expect((await app.request("/healthz")).status).toBe(200);
  }, 60_000);
});
