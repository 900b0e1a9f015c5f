import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import type { AuthUser } from "../auth/auth.service.ts";
import type { Database } from "../db/kysely.ts";
import { eventsAfter, latestEventId } from "../events/events.service.ts";
import { createStream } from "../streams/streams.service.ts";
import { migratedDatabase, makeUsers, codeOf } from "../../test/support/db.ts";
import { clearGuidance, currentGuidance, setGuidance } from "./guidance.service.ts";
import { currentLock, releaseLock, takeLock } from "./lock.service.ts";

let database: Database;
let op: AuthUser;
let op2: AuthUser;
let reporter: AuthUser;
let other: AuthUser;
let viewer: AuthUser;
beforeAll(async () => {
  database = await migratedDatabase("guidance-test");
  [op, op2, reporter, other, viewer] = await makeUsers(database, [
    ["op@city.example", "operator"],
    ["op2@city.example", "operator"],
    ["r@city.example", "reporter"],
    ["r2@city.example", "reporter"],
    ["v@city.example", "viewer"],
  ]);
}, 60_000);
afterAll(() => database?.close());

const stream = () => createStream(database.db, reporter, { title: "guided" });

describe("guidance", () => {
  test("an operator sets it; the reporter and operators read it; clearing ends it; each change is an event to the reporter", async () => {
    const id = await stream();
    expect(await currentGuidance(database.db, reporter, id)).toBeNull();
    const before = await latestEventId(database.db);
    const g = await setGuidance(database.db, op, id, { lat: 52.5, lng: 13.4, heading: 90, message: "  go east  " });
    expect(g).toMatchObject({ stream_id: id, lat: 52.5, lng: 13.4, heading: 90, message: "go east", by: op.email });
    expect(await currentGuidance(database.db, reporter, id)).toEqual(g);
    expect(await currentGuidance(database.db, op2, id)).toEqual(g);
    // A newer instruction replaces the older.
    const g2 = await setGuidance(database.db, op, id, { message: "stop" });
    expect((await currentGuidance(database.db, reporter, id))?.id).toBe(g2.id);
    await clearGuidance(database.db, op, id);
    expect(await currentGuidance(database.db, reporter, id)).toBeNull();
    // Clearing again changes nothing and announces nothing.
    await clearGuidance(database.db, op, id);
    const events = (await eventsAfter(database.db, before, 100)).filter((e) => e.stream_id === id && e.type.startsWith("guidance."));
    expect(events.map((e) => e.type)).toEqual(["guidance.locked", "guidance.set", "guidance.set", "guidance.cleared"]);
    expect(events.filter((e) => e.type !== "guidance.locked").every((e) => e.owner_id === reporter.id)).toBe(true);
  });

  test("refusals: who may set it, what it must hold, which streams are visible", async () => {
    const id = await stream();
    expect(await codeOf(setGuidance(database.db, reporter, id, { message: "x" }))).toBe("forbidden");
    expect(await codeOf(setGuidance(database.db, viewer, id, { message: "x" }))).toBe("forbidden");
    expect(await codeOf(setGuidance(database.db, op, id, { lat: 1 }))).toBe("bad_request");
    expect(await codeOf(setGuidance(database.db, op, id, { message: "   " }))).toBe("bad_request");
    expect(await codeOf(setGuidance(database.db, op, "not-a-uuid", { message: "x" }))).toBe("not_found");
    expect(await codeOf(currentGuidance(database.db, other, id))).toBe("not_found");
    expect(await codeOf(clearGuidance(database.db, reporter, id))).toBe("forbidden");
  });
});

describe("direction lock", () => {
  test("guiding takes a free lock; another operator is refused until an explicit, audited takeover", async () => {
    const id = await stream();
    expect(await currentLock(database.db, op, id)).toEqual({ stream_id: id, holder: null, taken_at: null });
    await setGuidance(database.db, op, id, { heading: 10 });
    expect((await currentLock(database.db, op2, id)).holder).toEqual({ id: op.id, email: op.email });
    expect(await codeOf(setGuidance(database.db, op2, id, { heading: 20 }))).toBe("conflict");
    expect(await codeOf(clearGuidance(database.db, op2, id))).toBe("conflict");
    expect(await codeOf(takeLock(database.db, op2, id, {}))).toBe("conflict");
    // Taking what one holds already changes nothing.
    expect((await takeLock(database.db, op, id, {})).holder?.id).toBe(op.id);

    const taken = await takeLock(database.db, op2, id, { takeover: true });
    expect(taken.holder).toEqual({ id: op2.id, email: op2.email });
    const { rows } = await sql<{
      action: string;
      detail: { previous_holder: { id: string } };
    }>`select action, detail from audit_log where target_id = ${id} and action = 'guidance.lock_taken_over'`.execute(database.db);
    expect(rows.map((r) => r.detail.previous_holder.id)).toEqual([op.id]);
    expect((await setGuidance(database.db, op2, id, { heading: 20 })).heading).toBe(20);
    expect(await codeOf(setGuidance(database.db, op, id, { heading: 30 }))).toBe("conflict");
  });

  test("only the holder releases it; a disabled holder's lock is free to take", async () => {
    const id = await stream();
    await takeLock(database.db, op, id, {});
    await releaseLock(database.db, op2, id);
    expect((await currentLock(database.db, op, id)).holder?.id).toBe(op.id);
    await releaseLock(database.db, op, id);
    expect((await currentLock(database.db, op, id)).holder).toBeNull();

    await takeLock(database.db, op, id, {});
    await sql`update users set disabled_at = now() where id = ${op.id}`.execute(database.db);
    try {
      expect((await takeLock(database.db, op2, id, {})).holder?.id).toBe(op2.id);
    } finally {
      await sql`update users set disabled_at = null where id = ${op.id}`.execute(database.db);
    }
    expect(await codeOf(takeLock(database.db, reporter, id, {}))).toBe("forbidden");
  });
});
