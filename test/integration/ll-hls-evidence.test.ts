import { afterAll, beforeAll, expect, test } from "bun:test";
import pg from "pg";
import { runFixityBatch } from "../../core/fixity/fixity.service.ts";
import { run as runObjectHold } from "../../workers/tasks/object_hold.ts";
import { makeCmaf, type CmafMedia } from "../support/cmaf.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { bearer, call, createStream, makeCast, objectsUnder, type Cast } from "../support/security.ts";

// A CMAF stream's init and parts are evidence exactly like classic chunks: hashed at write,
// checked by fixity, kept under legal hold (rows and S3 objects), purged with their stream.

let minio: TestMinio;
let app: TestApp;
let cast: Cast;
let dbUrl: string;
let media: CmafMedia;

beforeAll(async () => {
  minio = await startMinio();
  dbUrl = await testDatabaseUrl();
  // A bucket with object lock, so the S3 legal hold is real.
  const url = minio.url.replace(`/${minio.bucket}?`, "/cmaf-evidence?") + "&object_lock=true";
  app = await startTestApp({ "database-url": dbUrl, "storage-url": url, roles: "api" });
  cast = await makeCast(app);
  media = await makeCmaf({ seconds: 2, fragMs: 250 });
}, 120_000);
afterAll(async () => {
  await app?.stop();
  await minio?.stop();
});

const deps = () => ({ db: app.rt.database.db, store: app.rt.store, log: app.rt.log });
const sha = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

async function directSql(text: string, params: unknown[]): Promise<string> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    await c.query(text, params);
    return "ok";
  } catch (e) {
    return (e as { code: string }).code;
  } finally {
    await c.end();
  }
}

test("init and parts: fixity reads them, a hold locks them (rows and S3 objects), a delete after release purges them", async () => {
  const reporter = cast.tokens.reporter;
  const sid = await createStream(app, reporter, "cmaf evidence");
  const init = await app.request(`/api/v1/streams/${sid}/init`, {
    method: "PUT",
    headers: { ...bearer(reporter), "content-type": "video/mp4" },
    body: media.init,
  });
  expect(init.status).toBe(201);
  for (let seq = 0; seq < 3; seq++) {
    const r = await app.request(`/api/v1/streams/${sid}/chunks/${seq}`, {
      method: "PUT",
      headers: { ...bearer(reporter), "content-type": "video/iso.segment" },
      body: media.chunks[seq]!,
    });
    expect(r.status).toBe(201);
  }
  const db = app.rt.database.db;
  const initRow = await db.selectFrom("stream_inits").select(["object_key", "sha256"]).where("stream_id", "=", sid).executeTakeFirstOrThrow();
  expect(initRow.sha256).toBe(sha(media.init));
  const keys = (await objectsUnder(app, `streams/${sid}/`)).sort();
  expect(keys.length).toBe(4);
  expect(keys).toContain(initRow.object_key);

  // Fixity: all four objects are read and match.
  const first = await runFixityBatch(deps(), { runId: null, after: null, limit: 1000, trigger: "manual" });
  expect(first).toMatchObject({ kind: "checked", checked: 4, mismatches: 0, missing: 0, done: true });
  // The init changed behind our back: the next run names it, as an init.
  await app.rt.store.put(initRow.object_key, new Uint8Array(media.init.length).fill(1));
  const second = await runFixityBatch(deps(), { runId: null, after: null, limit: 1000, trigger: "manual" });
  expect(second).toMatchObject({ kind: "checked", checked: 4, mismatches: 1 });
  const failures = await db.selectFrom("fixity_failures").select(["object_key", "source", "reason", "stream_id"]).where("resolved_at", "is", null).execute();
  expect(failures).toEqual([{ object_key: initRow.object_key, source: "init", reason: "mismatch", stream_id: sid }]);
  await app.rt.store.put(initRow.object_key, media.init);

  // Hold: neither the init row nor a part row can be deleted, by anyone; every object is S3-locked.
  expect((await call(app, cast.tokens.operator, "POST", `/api/v1/streams/${sid}/hold`, { reason: "case 10" })).status).toBe(201);
  expect(await directSql("delete from stream_inits where stream_id = $1", [sid])).toBe("RTH01");
  expect(await directSql("delete from chunks where stream_id = $1", [sid])).toBe("RTH01");
  await runObjectHold(deps(), { stream_id: sid });
  for (const k of keys) expect({ k, held: await app.rt.store.legalHold(k) }).toEqual({ k, held: true });
  await expect(app.rt.store.delete(initRow.object_key)).rejects.toMatchObject({ code: "conflict" });
  expect((await call(app, cast.tokens.admin, "DELETE", `/api/v1/streams/${sid}`)).status).toBe(409);

  // Released and deleted: rows and every object go.
  expect((await call(app, cast.tokens.admin, "DELETE", `/api/v1/streams/${sid}/hold`)).status).toBe(200);
  await runObjectHold(deps(), { stream_id: sid });
  for (const k of keys) expect(await app.rt.store.legalHold(k)).toBe(false);
  expect((await call(app, cast.tokens.admin, "DELETE", `/api/v1/streams/${sid}`)).status).toBe(204);
  expect(await objectsUnder(app, `streams/${sid}/`)).toEqual([]);
  expect(await db.selectFrom("stream_inits").select("stream_id").where("stream_id", "=", sid).execute()).toEqual([]);
}, 120_000);
