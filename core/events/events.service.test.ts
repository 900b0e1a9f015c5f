import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import pg from "pg";
import type { Database } from "../db/kysely.ts";
import { migratedDatabase } from "../../test/support/db.ts";
import { EVENTS_CHANNEL, eventsAfter, latestEventId, publish } from "./events.service.ts";

let database: Database;
beforeAll(async () => {
  database = await migratedDatabase("events-test");
}, 60_000);
afterAll(() => database?.close());

describe("the event log", () => {
  test("empty: the latest id is 0", async () => {
    expect(await latestEventId(database.db)).toBe("0");
    expect(await eventsAfter(database.db, "0", 10)).toEqual([]);
  });

  test("published events are read back in order after an id, in pages; a rolled-back one never was", async () => {
    await publish(database.db, { type: "tag.created", data: { tag: "a" } });
    await database.db
      .transaction()
      .execute(async (trx) => {
        await publish(trx, { type: "tag.created", data: { tag: "rolled back" } });
        throw new Error("roll back");
      })
      .catch(() => {});
    await publish(database.db, { type: "stream.created", streamId: null, ownerId: null, data: { title: "b" } });
    const all = await eventsAfter(database.db, "0", 10);
    expect(all.map((e) => e.data)).toEqual([{ tag: "a" }, { title: "b" }]);
    expect(all[0]).toMatchObject({ type: "tag.created", stream_id: null, owner_id: null });
    expect(Number(all[1]!.id)).toBeGreaterThan(Number(all[0]!.id));
    expect(await latestEventId(database.db)).toBe(all[1]!.id);
    expect((await eventsAfter(database.db, all[0]!.id, 10)).map((e) => e.id)).toEqual([all[1]!.id]);
    expect(await eventsAfter(database.db, "0", 1)).toHaveLength(1);
  });

  test("a listener is woken (payload-less NOTIFY) when an event commits", async () => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const woke = new Promise<string>((resolve) => client.on("notification", (n) => resolve(`${n.channel}:${n.payload}`)));
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
      await publish(database.db, { type: "tag.created", data: { tag: "c" } });
      expect(await Promise.race([woke, Bun.sleep(10_000).then(() => "no notification")])).toBe(`${EVENTS_CHANNEL}:`);
    } finally {
      await client.end();
    }
  });
});
