import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { Client } from "minio";
import pg from "pg";
import { sweepRetention } from "../../core/retention/retention.service.ts";
import { run as runObjectHold } from "../../workers/tasks/object_hold.ts";
import { run as runPurge } from "../../workers/tasks/purge_objects.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { bearer, call, createStream, makeCast, objectsUnder, putChunk, type Cast } from "../support/security.ts";

// Legal hold beyond streams (text reports, photos, links), retention per workspace, and S3 object
// lock on a bucket that has it: against a real Postgres and a real MinIO.

let minio: TestMinio;
let app: TestApp;
let cast: Cast;
let dbUrl: string;

// A 1x1 PNG: passes the photo sniff.
const PNG = Uint8Array.from(atob("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="), (c) => c.charCodeAt(0));

beforeAll(async () => {
  minio = await startMinio();
  dbUrl = await testDatabaseUrl();
  app = await startTestApp({ "database-url": dbUrl, "storage-url": minio.url, roles: "api" });
  cast = await makeCast(app);
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await minio?.stop();
});

const deps = (a: TestApp) => ({ db: a.rt.database.db, store: a.rt.store, log: a.rt.log });

async function textItem(a: TestApp, token: string, title: string, tags: string[] = []): Promise<string> {
  const r = await call(a, token, "POST", "/api/v1/items", { kind: "text", title, tags });
  expect(r.status).toBe(201);
  return ((await r.json()) as { id: string }).id;
}

async function photoItem(a: TestApp, token: string, title: string): Promise<{ id: string; key: string }> {
  const r = await a.request(`/api/v1/items/photos?title=${encodeURIComponent(title)}`, {
    method: "POST",
    headers: { ...bearer(token), "content-type": "image/png" },
    body: PNG,
  });
  expect(r.status).toBe(201);
  const id = ((await r.json()) as { id: string }).id;
  const row = await a.rt.database.db.selectFrom("items").select("photo_key").where("id", "=", id).executeTakeFirstOrThrow();
  return { id, key: row.photo_key! };
}

async function directSql(text: string): Promise<string> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    await c.query(text);
    return "ok";
  } catch (e) {
    return (e as { code: string }).code;
  } finally {
    await c.end();
  }
}

describe("legal hold on items that are not streams", () => {
  test("a held photo cannot be deleted by any role, by retention, or by direct SQL; its bytes stay", async () => {
    const photo = await photoItem(app, cast.tokens.reporter, "Broken levee");
    const placed = await call(app, cast.tokens.operator, "POST", `/api/v1/items/${photo.id}/hold`, { reason: "insurance claim 77" });
    expect(placed.status).toBe(201);
    expect(((await placed.json()) as { item_id: string }).item_id).toBe(photo.id);
    expect((await call(app, cast.tokens.operator, "POST", `/api/v1/items/${photo.id}/hold`, { reason: "twice" })).status).toBe(409);
    // Reporters and viewers cannot hold anything.
    expect((await call(app, cast.tokens.reporter, "POST", `/api/v1/items/${photo.id}/hold`, { reason: "mine" })).status).toBe(403);

    const answers: Record<string, number> = {};
    for (const who of ["admin", "operator", "reporter", "viewer"] as const)
      answers[who] = (await call(app, cast.tokens[who], "DELETE", `/api/v1/items/${photo.id}`)).status;
    expect(answers).toEqual({ admin: 409, operator: 403, reporter: 403, viewer: 403 });

    await sql`update items set created_at = now() - interval '400 days' where id = ${photo.id}`.execute(app.rt.database.db);
    const sweep = await sweepRetention(deps(app), 1, 500);
    expect(sweep.refused + sweep.deleted).toBeGreaterThanOrEqual(0);
    expect(await directSql(`delete from items where id = '${photo.id}'`)).toBe("RTH01");
    expect(await directSql("truncate items cascade")).toBe("RTH01");
    // Nor can the purge job take the photo while its item exists.
    await expect(runPurge(deps(app), { prefix: photo.key })).rejects.toThrow(/still uses/);
    expect((await call(app, cast.tokens.viewer, "GET", `/api/v1/items/${photo.id}/photo`)).status).toBe(200);
    expect(await objectsUnder(app, photo.key)).toEqual([photo.key]);
    // Looking at evidence is recorded: once per viewer and photo within a few minutes.
    expect((await call(app, cast.tokens.viewer, "GET", `/api/v1/items/${photo.id}/photo`)).status).toBe(200);
    expect((await call(app, cast.tokens.operator, "GET", `/api/v1/items/${photo.id}/photo`)).status).toBe(200);
    const views = await app.rt.database.db
      .selectFrom("audit_log")
      .select(["actor_email", "detail"])
      .where("action", "=", "photo.viewed")
      .where("target_id", "=", photo.id)
      .execute();
    expect(views.map((v) => v.actor_email).sort()).toEqual([cast.emails.operator, cast.emails.viewer].sort());
    expect((views[0]!.detail as { sha256: string }).sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  test("released by an admin only; then the admin's delete removes the row and the photo, audited and announced", async () => {
    const photo = await photoItem(app, cast.tokens.reporter, "Second angle");
    expect((await call(app, cast.tokens.operator, "POST", `/api/v1/items/${photo.id}/hold`, { reason: "inquiry" })).status).toBe(201);
    expect((await call(app, cast.tokens.operator, "DELETE", `/api/v1/items/${photo.id}/hold`)).status).toBe(403);
    const released = await call(app, cast.tokens.admin, "DELETE", `/api/v1/items/${photo.id}/hold?reason=closed`);
    expect(released.status).toBe(200);
    expect((await call(app, cast.tokens.admin, "DELETE", `/api/v1/items/${photo.id}`)).status).toBe(204);
    expect((await call(app, cast.tokens.admin, "GET", `/api/v1/items/${photo.id}`)).status).toBe(404);
    expect(await objectsUnder(app, photo.key)).toEqual([]);
    const db = app.rt.database.db;
    const actions = (await db.selectFrom("audit_log").select("action").where("target_id", "=", photo.id).orderBy("id").execute()).map((r) => r.action);
    expect(actions).toEqual(["hold.placed", "hold.released", "item.deleted"]);
    const ev = await db.selectFrom("events").select("data").where("type", "=", "item.deleted").execute();
    expect(ev.some((e) => (e.data as { item_id: string }).item_id === photo.id)).toBe(true);
    // Deleting again, or an id that never existed: 404.
    expect((await call(app, cast.tokens.admin, "DELETE", `/api/v1/items/${photo.id}`)).status).toBe(404);
    expect((await call(app, cast.tokens.admin, "DELETE", "/api/v1/items/not-a-uuid")).status).toBe(400);
  });

  test("holding a stream's item holds the stream: its chunks cannot be deleted either", async () => {
    const sid = await createStream(app, cast.tokens.reporter, "held through its item");
    expect((await putChunk(app, cast.tokens.reporter, sid, 0)).status).toBe(201);
    const db = app.rt.database.db;
    const item = await db.selectFrom("items").select("id").where("stream_id", "=", sid).executeTakeFirstOrThrow();
    const placed = await call(app, cast.tokens.operator, "POST", `/api/v1/items/${item.id}/hold`, { reason: "witness video" });
    expect(placed.status).toBe(201);
    expect(((await placed.json()) as { stream_id: string }).stream_id).toBe(sid);
    expect((await call(app, cast.tokens.admin, "DELETE", `/api/v1/items/${item.id}`)).status).toBe(409);
    expect((await call(app, cast.tokens.admin, "DELETE", `/api/v1/streams/${sid}`)).status).toBe(409);
    expect(await directSql(`delete from chunks where stream_id = '${sid}'`)).toBe("RTH01");
    expect((await objectsUnder(app, `streams/${sid}/`)).length).toBe(1);
    expect((await call(app, cast.tokens.admin, "DELETE", `/api/v1/items/${item.id}/hold`)).status).toBe(200);
    expect((await call(app, cast.tokens.admin, "DELETE", `/api/v1/items/${item.id}`)).status).toBe(204);
    expect((await call(app, cast.tokens.admin, "GET", `/api/v1/streams/${sid}`)).status).toBe(404);
    expect(await objectsUnder(app, `streams/${sid}/`)).toEqual([]);
  });
});

describe("retention per workspace", () => {
  test("each item follows its stream's own setting, else its workspaces' (forever wins, else the longest), else --retention", async () => {
    const db = app.rt.database.db;
    const admin = (method: string, path: string, body?: unknown) => call(app, cast.tokens.admin, method, path, body);
    for (const t of ["flood-2026", "court-case", "drill"])
      expect([200, 201]).toContain((await call(app, cast.tokens.operator, "POST", "/api/v1/tags", { name: t })).status);
    expect((await admin("PUT", "/api/v1/tags/flood-2026/retention", { keep_days: 10 })).status).toBe(200);
    expect((await admin("PUT", "/api/v1/tags/court-case/retention", { keep_days: null })).status).toBe(200);
    expect((await admin("PUT", "/api/v1/tags/drill/retention", { keep_days: 2 })).status).toBe(200);
    // Operators curate workspaces but do not decide what is destroyed.
    expect((await call(app, cast.tokens.operator, "PUT", "/api/v1/tags/drill/retention", { keep_days: 1 })).status).toBe(403);
    for (const bad of [
      { keep_days: 0 },
      { keep_days: -3 },
      { keep_days: 1.5 },
      { keep_days: "10" },
      { keep_days: "ten" },
      { keep_days: true },
      {},
      { keep_days: 10, extra: 1 },
    ]) {
      expect(`${JSON.stringify(bad)} ${(await admin("PUT", "/api/v1/tags/drill/retention", bad)).status}`).toBe(`${JSON.stringify(bad)} 400`);
    }
    expect((await admin("PUT", "/api/v1/tags/no-such-tag/retention", { keep_days: 5 })).status).toBe(404);

    const age = async (id: string, days: number) => sql`update items set created_at = now() - make_interval(days => ${days}) where id = ${id}`.execute(db);
    const floodOld = await textItem(app, cast.tokens.reporter, "water rising", ["flood-2026"]);
    const floodNew = await textItem(app, cast.tokens.reporter, "water still rising", ["flood-2026"]);
    const floodCourt = await textItem(app, cast.tokens.reporter, "evidence of the breach", ["flood-2026", "court-case"]);
    const floodDrill = await textItem(app, cast.tokens.reporter, "drill and flood", ["flood-2026", "drill"]);
    const untaggedYoung = await textItem(app, cast.tokens.reporter, "no workspace, young");
    const untaggedOld = await textItem(app, cast.tokens.reporter, "no workspace, old");
    await age(floodOld, 20);
    await age(floodNew, 5);
    await age(floodCourt, 20);
    await age(floodDrill, 8);
    await age(untaggedYoung, 20);
    await age(untaggedOld, 40);

    // Streams: finished 20 days ago, in the flood workspace; one keeps its own 100 days.
    const mkStream = async (title: string) => {
      const id = await createStream(app, cast.tokens.reporter, title);
      expect((await putChunk(app, cast.tokens.reporter, id, 0)).status).toBe(201);
      expect((await call(app, cast.tokens.reporter, "POST", `/api/v1/streams/${id}/finish`)).status).toBe(200);
      const item = await db.selectFrom("items").select("id").where("stream_id", "=", id).executeTakeFirstOrThrow();
      expect((await call(app, cast.tokens.operator, "POST", `/api/v1/items/${item.id}/tags`, { tag: "flood-2026" })).status).toBe(200);
      await sql`update streams set finished_at = now() - interval '20 days' where id = ${id}`.execute(db);
      return { id, item: item.id };
    };
    const streamGone = await mkStream("flood stream");
    const streamOwn = await mkStream("flood stream kept by its own rule");
    expect((await admin("PUT", `/api/v1/streams/${streamOwn.id}/retention`, { keep_days: 100 })).status).toBe(200);

    const ours = [floodOld, floodNew, floodCourt, floodDrill, untaggedYoung, untaggedOld, streamGone.item, streamOwn.item];
    await sweepRetention(deps(app), 30 * 86_400_000, 500);
    const left = new Set((await db.selectFrom("items").select("id").where("id", "in", ours).execute()).map((r) => r.id));
    const kept = (id: string) => left.has(id);
    expect({
      floodOld: kept(floodOld),
      floodNew: kept(floodNew),
      floodCourt: kept(floodCourt),
      floodDrill: kept(floodDrill),
      untaggedYoung: kept(untaggedYoung),
      untaggedOld: kept(untaggedOld),
      streamGone: kept(streamGone.item),
      streamOwn: kept(streamOwn.item),
    }).toEqual({
      floodOld: false,
      floodNew: true,
      floodCourt: true,
      floodDrill: true,
      untaggedYoung: true,
      untaggedOld: false,
      streamGone: false,
      streamOwn: true,
    });
    expect(await objectsUnder(app, `streams/${streamGone.id}/`)).toEqual([]);
    expect((await objectsUnder(app, `streams/${streamOwn.id}/`)).length).toBe(1);
    const rec = await db.selectFrom("audit_log").select(["action", "actor_id"]).where("target_id", "=", floodOld).executeTakeFirst();
    expect(rec).toEqual({ action: "retention.deleted", actor_id: null });

    // Clearing the flood rule: its items follow their other workspaces, else --retention (30 days).
    // The 8-day-old item is now only held by the drill's 2 days; the 5-day-old one by the default.
    expect((await admin("DELETE", "/api/v1/tags/flood-2026/retention")).status).toBe(204);
    await sweepRetention(deps(app), 30 * 86_400_000, 500);
    const after = new Set((await db.selectFrom("items").select("id").where("id", "in", [floodNew, floodCourt, floodDrill]).execute()).map((r) => r.id));
    expect([after.has(floodNew), after.has(floodCourt), after.has(floodDrill)]).toEqual([true, true, false]);
    const setting = await db.selectFrom("audit_log").select("action").where("action", "in", ["retention.set", "retention.cleared"]).execute();
    expect(setting.length).toBeGreaterThanOrEqual(5);
  });
});

describe("S3 object lock", () => {
  let locked: TestApp;
  let lockedCast: Cast;
  let s3: Client;
  const bucket = "evidence-locked";

  beforeAll(async () => {
    // rter creates the bucket with object lock when told to (object_lock=true in the storage URL).
    const url = minio.url.replace(`/${minio.bucket}?`, `/${bucket}?`) + "&object_lock=true";
    locked = await startTestApp({ "database-url": await testDatabaseUrl(), "storage-url": url, roles: "api" });
    lockedCast = await makeCast(locked, "locked.example");
    s3 = new Client({ endPoint: minio.endPoint, port: minio.port, useSSL: false, accessKey: minio.accessKey, secretKey: minio.secretKey, region: "us-east-1" });
  }, 60_000);
  afterAll(async () => {
    await locked?.stop();
  });

  async function versions(prefix: string): Promise<{ name: string; versionId: string }[]> {
    const out: { name: string; versionId: string }[] = [];
    for await (const o of s3.listObjects(bucket, prefix, true, { IncludeVersion: true })) out.push(o as { name: string; versionId: string });
    return out;
  }

  test("without object lock the sync does nothing and says so; with it, the store reports it", async () => {
    expect(app.rt.store.objectLock()).toBe(false);
    expect(locked.rt.store.objectLock()).toBe(true);
    const sid = await createStream(app, cast.tokens.reporter, "plain bucket");
    expect(await (await import("../../core/retention/object-hold.service.ts")).syncObjectHold(deps(app), { stream_id: sid })).toEqual({
      objectLock: false,
      held: false,
      objects: 0,
    });
  });

  test("a hold puts every object of the stream under S3 legal hold: MinIO itself refuses to delete them, even with its root key", async () => {
    const sid = await createStream(locked, lockedCast.tokens.reporter, "locked evidence");
    for (let i = 0; i < 3; i++) expect((await putChunk(locked, lockedCast.tokens.reporter, sid, i)).status).toBe(201);
    expect((await call(locked, lockedCast.tokens.operator, "POST", `/api/v1/streams/${sid}/hold`, { reason: "case 9" })).status).toBe(201);
    // The hold queued its object_hold job in the same transaction; run it as a worker would.
    const job = await sql<{
      payload: unknown;
    }>`select j.payload from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 'object_hold'`.execute(
      locked.rt.database.db,
    );
    expect(job.rows.map((r) => r.payload)).toContainEqual({ stream_id: sid });
    await runObjectHold(deps(locked), { stream_id: sid });

    const keys = await objectsUnder(locked, `streams/${sid}/`);
    expect(keys.length).toBe(3);
    for (const k of keys) expect(await locked.rt.store.legalHold(k)).toBe(true);
    // Straight to MinIO with the root credentials, version by version: refused.
    for (const v of await versions(`streams/${sid}/`)) {
      const err = await s3.removeObject(bucket, v.name, { versionId: v.versionId }).then(
        () => null,
        (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`,
      );
      expect(err).toMatch(/WORM|legal hold/i);
    }
    // Through rter's store without lifting: 409, and the bytes are still there.
    await expect(locked.rt.store.delete(keys[0]!)).rejects.toMatchObject({ code: "conflict" });
    expect((await locked.rt.store.getBytes(keys[0]!)).length).toBe(4096);

    // Released: the sync lifts the S3 hold, and the admin's delete leaves no version behind.
    expect((await call(locked, lockedCast.tokens.admin, "DELETE", `/api/v1/streams/${sid}/hold`)).status).toBe(200);
    await runObjectHold(deps(locked), { stream_id: sid });
    for (const k of keys) expect(await locked.rt.store.legalHold(k)).toBe(false);
    expect((await call(locked, lockedCast.tokens.admin, "DELETE", `/api/v1/streams/${sid}`)).status).toBe(204);
    expect(await versions(`streams/${sid}/`)).toEqual([]);
  });

  test("a held photo is locked too; a purge after release lifts a leftover S3 hold itself", async () => {
    const photo = await photoItem(locked, lockedCast.tokens.reporter, "locked photo");
    expect((await call(locked, lockedCast.tokens.operator, "POST", `/api/v1/items/${photo.id}/hold`, { reason: "case 10" })).status).toBe(201);
    await runObjectHold(deps(locked), { item_id: photo.id });
    expect(await locked.rt.store.legalHold(photo.key)).toBe(true);
    // Released, but the worker has not synced yet: the delete still completes (the database
    // decided), lifting the S3 hold on the way.
    expect((await call(locked, lockedCast.tokens.admin, "DELETE", `/api/v1/items/${photo.id}/hold`)).status).toBe(200);
    expect((await call(locked, lockedCast.tokens.admin, "DELETE", `/api/v1/items/${photo.id}`)).status).toBe(204);
    expect(await versions(photo.key)).toEqual([]);
    // Bad payloads are refused, not guessed at.
    await expect(runObjectHold(deps(locked), {})).rejects.toThrow(/stream_id or item_id/);
    await expect(runObjectHold(deps(locked), { stream_id: "../etc" })).rejects.toThrow(/uuid/);
    await expect(runPurge(deps(locked), { prefix: "items/photos/../../x.png" })).rejects.toThrow(/refusing/);
  });
});
