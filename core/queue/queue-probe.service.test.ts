import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import type { Database } from "../db/kysely.ts";
import { migratedDatabase } from "../../test/support/db.ts";
import { enqueueProbe, getProbe, recordProbeRun } from "./queue-probe.service.ts";

let database: Database;
beforeAll(async () => {
  database = await migratedDatabase("queue-probe-test");
}, 60_000);
afterAll(() => database?.close());

describe("queue probes", () => {
  test("a probe row and its job are written together; each run is counted with the worker's node id", async () => {
    const p = await enqueueProbe(database.db, 250);
    expect(p).toMatchObject({ ran_at: null, run_count: 0, worker_id: null });
    const { rows } = await sql<{ identifier: string; payload: { probeId: string; holdMs: number }; priority: number }>`
      select t.identifier, j.payload, j.priority from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id`.execute(
      database.db,
    );
    expect(rows.map((r) => [r.identifier, r.payload])).toEqual([["queue_probe", { probeId: p.id, holdMs: 250 }]]);
    await recordProbeRun(database.db, p.id, "node-a");
    await recordProbeRun(database.db, p.id, "node-b");
    const ran = (await getProbe(database.db, p.id))!;
    expect(ran).toMatchObject({ id: p.id, run_count: 2, worker_id: "node-b" });
    expect(ran.ran_at).not.toBeNull();
  });

  test("an unknown probe is null", async () => {
    expect(await getProbe(database.db, "00000000-0000-4000-8000-000000000000")).toBeNull();
  });
});
