import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { run as finishIdle } from "../../workers/tasks/finish_idle_streams.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { call, createStream, makeCast, putChunk, type Cast } from "../support/security.ts";

// A reporter who never says "finish": the worker ends the stream after --stream-idle-finish of
// silence, and the stream takes the reporter's late chunks after all (evidence is not refused
// because the server stopped waiting). Real Postgres, disk storage, the task run as a worker would.

let app: TestApp;
let cast: Cast;

beforeAll(async () => {
  app = await startTestApp({ "database-url": await testDatabaseUrl(), roles: "api" });
  cast = await makeCast(app, "idle.example");
}, 60_000);
afterAll(async () => {
  await app?.stop();
});

const db = () => app.rt.database.db;
const state = async (id: string) => db().selectFrom("streams").select(["state", "finished_by", "finished_at"]).where("id", "=", id).executeTakeFirstOrThrow();
const quiet = (id: string, minutes: number) =>
  Promise.all([
    sql`update streams set created_at = now() - make_interval(mins => ${minutes}) where id = ${id}`.execute(db()),
    sql`update chunks set received_at = now() - make_interval(mins => ${minutes}) where stream_id = ${id}`.execute(db()),
  ]);

describe("streams whose reporter falls silent", () => {
  test("silent past the limit: finished by the worker, recording queued, announced and audited; others stay live", async () => {
    const silent = await createStream(app, cast.tokens.reporter, "phone died");
    expect((await putChunk(app, cast.tokens.reporter, silent, 0)).status).toBe(201);
    const neverSent = await createStream(app, cast.tokens.reporter, "never sent a chunk");
    const busy = await createStream(app, cast.tokens.reporter2, "still sending");
    expect((await putChunk(app, cast.tokens.reporter2, busy, 0)).status).toBe(201);
    await quiet(silent, 31);
    await quiet(neverSent, 45);
    // The busy stream was created long ago, but its newest chunk is fresh.
    await sql`update streams set created_at = now() - interval '3 hours' where id = ${busy}`.execute(db());

    const finished = await finishIdle({ db: db(), log: app.rt.log }, app.rt.config.ingest.idleFinishMs);
    expect(app.rt.config.ingest.idleFinishMs).toBe(30 * 60_000);
    expect(finished.sort()).toEqual([silent, neverSent].sort());
    expect(await state(silent)).toMatchObject({ state: "finished", finished_by: "idle" });
    expect((await state(busy)).state).toBe("live");

    const job = await sql<{
      n: string;
    }>`select count(*) as n from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 'assemble_recording' and j.payload->>'streamId' = ${silent}`.execute(
      db(),
    );
    expect(Number(job.rows[0]!.n)).toBe(1);
    const ev = await db().selectFrom("events").select("data").where("type", "=", "stream.finished").where("stream_id", "=", silent).executeTakeFirstOrThrow();
    expect(ev.data).toMatchObject({ by: "idle" });
    const rec = await db()
      .selectFrom("audit_log")
      .select(["action", "actor_id"])
      .where("target_id", "=", silent)
      .where("action", "=", "stream.finished_idle")
      .executeTakeFirstOrThrow();
    expect(rec.actor_id).toBeNull();
    // Running again finds nothing new.
    expect(await finishIdle({ db: db(), log: app.rt.log }, app.rt.config.ingest.idleFinishMs)).toEqual([]);
  });

  test("the reporter's late chunk brings it back live and is stored; the recording made meanwhile is dropped", async () => {
    const id = await createStream(app, cast.tokens.reporter, "tunnel");
    expect((await putChunk(app, cast.tokens.reporter, id, 0)).status).toBe(201);
    await quiet(id, 40);
    expect(await finishIdle({ db: db(), log: app.rt.log }, 30 * 60_000)).toContain(id);
    // As if the worker had assembled the recording of the part before the silence.
    const key = `streams/${id}/recording/${crypto.randomUUID()}.mp4`;
    await app.rt.store.put(key, "old recording");
    await db()
      .updateTable("streams")
      .set({ recording_key: key, recording_sha256: "0".repeat(64), recording_size: "13", recording_at: new Date() })
      .where("id", "=", id)
      .execute();

    const late = await putChunk(app, cast.tokens.reporter, id, 1);
    expect(late.status).toBe(201);
    expect(await state(id)).toMatchObject({ state: "live", finished_by: null, finished_at: null });
    const row = await db().selectFrom("streams").select("recording_key").where("id", "=", id).executeTakeFirstOrThrow();
    expect(row.recording_key).toBeNull();
    expect(await app.rt.store.stat(key)).toBeNull();
    expect((await db().selectFrom("chunks").select("seq").where("stream_id", "=", id).orderBy("seq").execute()).map((c) => c.seq)).toEqual([0, 1]);
    expect(await db().selectFrom("events").select("type").where("stream_id", "=", id).where("type", "=", "stream.reopened").executeTakeFirst()).toBeDefined();

    // Finished by its reporter this time: that is final, a later chunk is refused as before.
    expect((await call(app, cast.tokens.reporter, "POST", `/api/v1/streams/${id}/finish`)).status).toBe(200);
    expect(await state(id)).toMatchObject({ state: "finished", finished_by: "reporter" });
    expect((await putChunk(app, cast.tokens.reporter, id, 2)).status).toBe(409);
    // Another reporter cannot revive someone else's stream.
    await quiet(id, 40);
    expect((await putChunk(app, cast.tokens.reporter2, id, 3)).status).toBe(404);
  });

  test("a batch takes silent streams only: older live streams that are busy do not crowd them out", async () => {
    const { finishIdleStreams } = await import("../../core/streams/idle.service.ts");
    // The first test left a live stream created 3 hours ago with a fresh chunk: the oldest live one.
    const id = await createStream(app, cast.tokens.reporter, "silent, but younger");
    await sql`update streams set created_at = now() - interval '40 minutes' where id = ${id}`.execute(db());
    expect(await finishIdleStreams(db(), 30 * 60_000, 1)).toEqual([id]);
  });

  test("--stream-idle-finish off leaves every stream live; nonsense values are refused at start", async () => {
    const id = await createStream(app, cast.tokens.reporter, "off");
    await quiet(id, 600);
    expect(await finishIdle({ db: db(), log: app.rt.log }, null)).toEqual([]);
    expect((await state(id)).state).toBe("live");
    const { buildConfig } = await import("../../core/config/load.ts");
    for (const bad of ["10s", "8d", "soon", "-5m"]) expect(() => buildConfig({ "stream-idle-finish": bad }, {})).toThrow(/stream-idle-finish/);
    expect(buildConfig({ "stream-idle-finish": "off" }, {}).ingest.idleFinishMs).toBeNull();
    expect(buildConfig({ "stream-idle-finish": "2h" }, {}).ingest.idleFinishMs).toBe(7_200_000);
  });
});
