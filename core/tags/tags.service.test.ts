import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { AuthUser } from "../auth/auth.service.ts";
import type { Database } from "../db/kysely.ts";
import { eventsAfter, latestEventId } from "../events/events.service.ts";
import { findTag, tagMembers } from "../items/items.repository.ts";
import { createItem } from "../items/items.service.ts";
import { migratedDatabase, makeUsers, codeOf, STAFF } from "../../test/support/db.ts";
import { addRule, createTag, deleteRule, listRules, listTags, reorder, tagOr404 } from "./tags.service.ts";

let database: Database;
let admin: AuthUser;
let op: AuthUser;
let reporter: AuthUser;
beforeAll(async () => {
  database = await migratedDatabase("tags-test");
  [admin, op, reporter] = await makeUsers(database, STAFF);
}, 60_000);
afterAll(() => database?.close());

const members = async (name: string) => (await tagMembers(database.db, (await findTag(database.db, name))!.id)).map((m) => m.item_id);
async function eventsSince(id: string) {
  return eventsAfter(database.db, id, 100);
}

describe("workspaces (tags)", () => {
  test("operators create them once, announced once; reporters may not; unknown ones are 404", async () => {
    const before = await latestEventId(database.db);
    expect(await createTag(database.db, op, "  flood-north ")).toEqual({ name: "flood-north", created: true });
    expect(await createTag(database.db, op, "flood-north")).toEqual({ name: "flood-north", created: false });
    expect((await eventsSince(before)).filter((e) => e.type === "tag.created").map((e) => e.data.tag)).toEqual(["flood-north"]);
    expect(await codeOf(createTag(database.db, op, "   "))).toBe("bad_request");
    expect(await codeOf(createTag(database.db, reporter, "mine"))).toBe("forbidden");
    expect(await codeOf(tagOr404(database.db, "no-such-tag"))).toBe("not_found");
    expect((await listTags(database.db)).find((t) => t.name === "flood-north")).toMatchObject({ items: 0, rules: 0 });
  });

  test("reorder: listed items first in the given order, the rest after in their old order; unknown ids ignored", async () => {
    const ids: string[] = [];
    for (const title of ["a", "b", "c", "d"]) ids.push((await createItem(database.db, reporter, { kind: "text", title, tags: ["order-ws"] })).id);
    expect(await members("order-ws")).toEqual(ids);
    const before = await latestEventId(database.db);
    const out = await reorder(database.db, op, "order-ws", [ids[2]!, ids[0]!, ids[2]!, "00000000-0000-4000-8000-000000000000"]);
    const expected = [ids[2]!, ids[0]!, ids[1]!, ids[3]!];
    expect(out).toEqual({ tag: "order-ws", items: expected });
    expect(await members("order-ws")).toEqual(expected);
    const changed = (await eventsSince(before)).filter((e) => e.type === "rank.changed");
    expect(changed.map((e) => e.data.items)).toEqual([expected]);
    expect(await codeOf(reorder(database.db, reporter, "order-ws", []))).toBe("forbidden");
    expect(await codeOf(reorder(database.db, op, "no-such-tag", []))).toBe("not_found");
  });

  test("a keyword rule tags existing items at once and new ones as they come; deleting it stops that", async () => {
    const old = await createItem(database.db, reporter, { kind: "text", title: "Smoke over the HARBOUR" });
    const rule = await addRule(database.db, admin, "harbour", { kind: "keyword", keyword: " harbour " });
    expect(rule).toMatchObject({ tag: "harbour", kind: "keyword", keyword: "harbour", polygon: null });
    expect(await members("harbour")).toEqual([old.id]);
    const fresh = await createItem(database.db, reporter, { kind: "text", title: "crane at the harbour" });
    expect(await members("harbour")).toEqual([old.id, fresh.id]);
    expect((await listTags(database.db)).find((t) => t.name === "harbour")).toMatchObject({ items: 2, rules: 1 });

    await deleteRule(database.db, admin, "harbour", rule.id);
    expect(await listRules(database.db, "harbour")).toEqual([]);
    await createItem(database.db, reporter, { kind: "text", title: "harbour again" });
    expect(await members("harbour")).toEqual([old.id, fresh.id]);
    expect(await codeOf(deleteRule(database.db, admin, "harbour", rule.id))).toBe("not_found");
  });

  test("a geofence rule keeps its polygon as [lat, lng] pairs and tags items inside it", async () => {
    const square: [number, number][] = [
      [52.5, 13.3],
      [52.5, 13.5],
      [52.6, 13.5],
      [52.6, 13.3],
    ];
    const inside = await createItem(database.db, reporter, { kind: "text", title: "inside", lat: 52.55, lng: 13.4 });
    await createItem(database.db, reporter, { kind: "text", title: "outside", lat: 48.1, lng: 11.5 });
    const rule = await addRule(database.db, admin, "mitte", { kind: "geofence", polygon: square });
    expect(rule.polygon).toEqual(square);
    expect((await listRules(database.db, "mitte")).map((r) => r.id)).toEqual([rule.id]);
    expect(await members("mitte")).toEqual([inside.id]);
  });

  test("rules: admins only, and refused when malformed", async () => {
    expect(await codeOf(addRule(database.db, op, "x", { kind: "keyword", keyword: "fire" }))).toBe("forbidden");
    expect(await codeOf(addRule(database.db, admin, "x", { kind: "keyword", keyword: " f " }))).toBe("bad_request");
    expect(
      await codeOf(
        addRule(database.db, admin, "x", {
          kind: "geofence",
          polygon: [
            [1, 1],
            [2, 2],
          ],
        }),
      ),
    ).toBe("bad_request");
    expect(
      await codeOf(
        addRule(database.db, admin, "x", {
          kind: "geofence",
          polygon: [
            [91, 1],
            [2, 2],
            [3, 3],
          ],
        }),
      ),
    ).toBe("bad_request");
    expect(await codeOf(deleteRule(database.db, op, "mitte", "00000000-0000-4000-8000-000000000000"))).toBe("forbidden");
    expect(await codeOf(listRules(database.db, "no-such-tag"))).toBe("not_found");
  });
});
