import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import type { AuthUser } from "../auth/auth.service.ts";
import type { Database } from "../db/kysely.ts";
import { createItem, createPhoto } from "../items/items.service.ts";
import { createLogger } from "../log.ts";
import { createDiskStore } from "../storage/disk.ts";
import type { ObjectStore } from "../storage/store.ts";
import { createStream, finishStream } from "../streams/streams.service.ts";
import { migratedDatabase, makeUsers, codeOf } from "../../test/support/db.ts";
import { activeHold, holdTargetOfItem, listHolds, placeHold, releaseHold } from "./holds.service.ts";
import { syncObjectHold } from "./object-hold.service.ts";
import {
  clearWorkspaceRetention,
  deleteItem,
  deleteStream,
  expiredItems,
  purgeObjects,
  setRetention,
  setWorkspaceRetention,
  sweepRetention,
  type RetentionDeps,
} from "./retention.service.ts";

let database: Database;
let store: ObjectStore;
let deps: RetentionDeps;
let admin: AuthUser;
let reporter: AuthUser;
const DAY = 86_400_000;
const NOBODY = "00000000-0000-4000-8000-000000000000";

beforeAll(async () => {
  database = await migratedDatabase("retention-test");
  store = createDiskStore(mkdtempSync(join(tmpdir(), "rter-retention-")));
  await store.ensure();
  deps = { db: database.db, store, log: createLogger("error") };
  [admin, reporter] = await makeUsers(database, [
    ["admin@city.example", "admin"],
    ["r@city.example", "reporter"],
  ]);
}, 60_000);
afterAll(() => database?.close());

const auditActions = async (id: string) =>
  (await sql<{ action: string }>`select action from audit_log where target_id = ${id} order by id`.execute(database.db)).rows.map((r) => r.action);
const streamExists = async (id: string) =>
  (await sql<{ n: string }>`select count(*)::text as n from streams where id = ${id}`.execute(database.db)).rows[0]!.n === "1";
const itemOfStream = async (id: string) => (await sql<{ id: string }>`select id from items where stream_id = ${id}`.execute(database.db)).rows[0]!.id;
async function keysUnder(prefix: string) {
  const keys: string[] = [];
  for await (const o of store.list(prefix)) keys.push(o.key);
  return keys.sort();
}
/** A finished stream with two objects, finished `ageDays` ago. */
async function oldStream(ageDays: number, tags: string[] = []) {
  const id = await createStream(database.db, reporter, { title: "old", tags });
  await finishStream(database.db, reporter, id);
  await sql`update streams set finished_at = now() - make_interval(days => ${ageDays}) where id = ${id}`.execute(database.db);
  await store.put(`streams/${id}/chunks/0/a.webm`, new Uint8Array([1, 2, 3]));
  await store.put(`streams/${id}/segments/0/b.ts`, new Uint8Array([4, 5]));
  return id;
}
/** A text report created `ageDays` ago. */
async function oldReport(ageDays: number, tags: string[] = []) {
  const item = await createItem(database.db, reporter, { kind: "text", title: "report", tags });
  await sql`update items set created_at = now() - make_interval(days => ${ageDays}) where id = ${item.id}`.execute(database.db);
  return item.id;
}

describe("deleting", () => {
  test("a stream: its rows, then its objects; audited; unknown or malformed ids are 404", async () => {
    const id = await oldStream(0);
    expect(await deleteStream(deps, id, "admin")).toEqual({ objects: 2 });
    expect(await streamExists(id)).toBe(false);
    expect(await keysUnder(`streams/${id}/`)).toEqual([]);
    expect(await auditActions(id)).toEqual(["stream.deleted"]);
    expect(await codeOf(deleteStream(deps, id, "admin"))).toBe("not_found");
    expect(await codeOf(deleteStream(deps, "nope", "admin"))).toBe("not_found");
  });

  test("a held stream stays with its objects (refusal audited) until the hold is released", async () => {
    const id = await oldStream(0);
    const hold = await placeHold(database.db, admin, { stream_id: id }, "case 17");
    expect(hold).toMatchObject({ stream_id: id, item_id: null, reason: "case 17", released_at: null });
    expect(await codeOf(placeHold(database.db, admin, { stream_id: id }, "again"))).toBe("conflict");
    expect((await activeHold(database.db, { stream_id: id }))?.id).toBe(hold.id);
    // Its item is held through the stream.
    expect(await holdTargetOfItem(database.db, await itemOfStream(id))).toEqual({ stream_id: id });
    expect(await codeOf(deleteStream(deps, id, "admin"))).toBe("conflict");
    expect(await codeOf(deleteItem(deps, await itemOfStream(id), "admin"))).toBe("conflict");
    expect(await keysUnder(`streams/${id}/`)).toHaveLength(2);
    expect((await listHolds(database.db, false)).map((h) => h.id)).toContain(hold.id);

    const released = await releaseHold(database.db, admin, { stream_id: id }, "case closed");
    expect(released).toMatchObject({ id: hold.id, release_reason: "case closed" });
    expect(released.released_at).not.toBeNull();
    expect(await codeOf(releaseHold(database.db, admin, { stream_id: id }, null))).toBe("not_found");
    expect((await listHolds(database.db, false)).map((h) => h.id)).not.toContain(hold.id);
    expect((await listHolds(database.db, true)).map((h) => h.id)).toContain(hold.id);
    expect(await deleteStream(deps, id, "admin")).toEqual({ objects: 2 });
    expect(await auditActions(id)).toEqual(["hold.placed", "stream.delete_refused", "stream.delete_refused", "hold.released", "stream.deleted"]);
  });

  test("a photo report goes with its photo; a stream's item takes its stream with it", async () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]);
    const photo = await createPhoto(database.db, store, reporter, "image/png", new Response(png).body, { title: "p" });
    const key = (await sql<{ photo_key: string }>`select photo_key from items where id = ${photo.id}`.execute(database.db)).rows[0]!.photo_key;
    expect(await keysUnder(key)).toEqual([key]);
    expect(await deleteItem(deps, photo.id, "admin")).toEqual({ objects: 1 });
    expect(await keysUnder(key)).toEqual([]);
    expect(await codeOf(deleteItem(deps, photo.id, "admin"))).toBe("not_found");

    const sid = await oldStream(0);
    expect(await deleteItem(deps, await itemOfStream(sid), "admin")).toEqual({ objects: 2 });
    expect(await streamExists(sid)).toBe(false);
  });

  test("a held report is refused; object holds without S3 object lock do nothing", async () => {
    const id = await oldReport(0);
    await placeHold(database.db, admin, { item_id: id }, "evidence");
    expect(await codeOf(deleteItem(deps, id, "admin"))).toBe("conflict");
    expect(await syncObjectHold(deps, { item_id: id })).toEqual({ objectLock: false, held: false, objects: 0 });
    expect(await codeOf(syncObjectHold(deps, { item_id: "x" }))).toBe("bad_request");
    expect(await codeOf(placeHold(database.db, admin, { item_id: NOBODY }, "x"))).toBe("not_found");
  });

  test("purging refuses anything but a stream prefix or photo key, and anything whose row exists", async () => {
    for (const bad of ["", "streams/", "streams/../", "items/", "audit/x", `streams/${NOBODY}`])
      expect(await codeOf(purgeObjects(store, bad, database.db))).toBe("bad_request");
    const live = await createStream(database.db, reporter, { title: "live" });
    await store.put(`streams/${live}/x.bin`, new Uint8Array([1]));
    expect(await codeOf(purgeObjects(store, `streams/${live}/`, database.db))).toBe("conflict");
    expect(await keysUnder(`streams/${live}/`)).toHaveLength(1);
    await store.put(`streams/${NOBODY}/left.bin`, new Uint8Array([1]));
    expect(await purgeObjects(store, `streams/${NOBODY}/`, database.db)).toBe(1);
  });
});

describe("retention", () => {
  test("the stream's own setting, else its workspaces' (forever wins, else the longest), else the default; never live or held", async () => {
    const byDefault = await oldStream(10);
    const ownLonger = await oldStream(10);
    await setRetention(database.db, admin, ownLonger, 30);
    const ownForever = await oldStream(10);
    await setRetention(database.db, admin, ownForever, null);
    const wsForever = await oldReport(10, ["keep-forever", "keep-5"]);
    await setWorkspaceRetention(database.db, admin, "keep-forever", null);
    const wsLongest = await oldReport(10, ["keep-5", "keep-20"]);
    await setWorkspaceRetention(database.db, admin, "keep-5", 5);
    await setWorkspaceRetention(database.db, admin, "keep-20", 20);
    const wsShort = await oldReport(10, ["keep-5"]);
    const young = await oldReport(1);
    const live = await createStream(database.db, reporter, { title: "live" });
    await sql`update streams set created_at = now() - interval '30 days' where id = ${live}`.execute(database.db);
    const held = await oldReport(10);
    await placeHold(database.db, admin, { item_id: held }, "keep");

    const mine = new Set([byDefault, ownLonger, ownForever, live].map(String));
    const expired = await expiredItems(database.db, 7 * DAY, 1000);
    const streamItems = Object.fromEntries(await Promise.all([...mine].map(async (s) => [await itemOfStream(s), s])));
    const seen = expired.filter((i) => i in streamItems || [wsForever, wsLongest, wsShort, young, held].includes(i)).map((i) => streamItems[i] ?? i);
    expect(seen.sort()).toEqual([byDefault, wsShort].sort());
    // No default (keep forever): only what a setting ends.
    expect((await expiredItems(database.db, null, 1000)).filter((i) => [wsShort, wsLongest].includes(i))).toEqual([wsShort]);

    // Cleared workspace setting: back to the default.
    await clearWorkspaceRetention(database.db, admin, "keep-20");
    await clearWorkspaceRetention(database.db, admin, "keep-5");
    expect((await expiredItems(database.db, 7 * DAY, 1000)).filter((i) => [wsShort, wsLongest].includes(i)).sort()).toEqual([wsLongest, wsShort].sort());
  });

  test("a sweep deletes in batches and says whether more is due", async () => {
    const before = await expiredItems(database.db, 7 * DAY, 1000);
    expect(before.length).toBeGreaterThan(1);
    const first = await sweepRetention(deps, 7 * DAY, 1);
    expect(first).toEqual({ deleted: 1, refused: 0, more: true });
    let rounds = 0;
    let r = first;
    while (r.more && rounds++ < 50) r = await sweepRetention(deps, 7 * DAY, 10);
    expect(await expiredItems(database.db, 7 * DAY, 1000)).toEqual([]);
  });

  test("settings refuse unknown streams and workspaces", async () => {
    expect(await codeOf(setRetention(database.db, admin, NOBODY, 3))).toBe("not_found");
    expect(await codeOf(setRetention(database.db, admin, "nope", 3))).toBe("not_found");
    expect(await codeOf(setWorkspaceRetention(database.db, admin, "no-such-ws", 3))).toBe("not_found");
    expect(await codeOf(clearWorkspaceRetention(database.db, admin, "no-such-ws"))).toBe("not_found");
  });
});
