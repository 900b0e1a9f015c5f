import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import type { AuthUser } from "../auth/auth.service.ts";
import type { Database } from "../db/kysely.ts";
import { eventsAfter, latestEventId } from "../events/events.service.ts";
import { createLogger } from "../log.ts";
import { locateFfmpeg } from "../media/ffmpeg-locate.ts";
import { createDiskStore } from "../storage/disk.ts";
import type { ObjectStore } from "../storage/store.ts";
import { migratedDatabase, makeUser } from "../../test/support/db.ts";
import { contentTypeOf, makeChunks } from "../../test/support/media.ts";
import { ingestChunk } from "./chunks.service.ts";
import { segmentChunk, type MediaDeps } from "./segmenting.service.ts";
import { createStream } from "./streams.service.ts";
import { insertChunk } from "./streams.repository.ts";

// One stored chunk → one segment on the stream's timeline, with real ffmpeg on chunks it made.

setDefaultTimeout(60_000);

let database: Database;
let store: ObjectStore;
let reporter: AuthUser;
let chunks: Uint8Array<ArrayBuffer>[];
const KIND = "mp4-h264-aac" as const;
const deps = (gapWaitMs = 60_000): MediaDeps => ({ db: database.db, store, log: createLogger("error"), ffmpeg, ffmpegTimeoutMs: 60_000, gapWaitMs });
let ffmpeg: string;

beforeAll(async () => {
  [database, chunks, ffmpeg] = await Promise.all([migratedDatabase("segmenting-test"), makeChunks(KIND, 4), locateFfmpeg(null)]);
  store = createDiskStore(mkdtempSync(join(tmpdir(), "rter-segmenting-")));
  await store.ensure();
  reporter = await makeUser(database, "r@city.example", "reporter");
}, 120_000);
afterAll(() => database?.close());

async function upload(streamId: string, seq: number, bytes = chunks[seq % chunks.length]!) {
  const r = await ingestChunk(
    database.db,
    store,
    reporter,
    { streamId, seq: String(seq), contentType: contentTypeOf(KIND), contentLength: String(bytes.length), chunkStart: null, body: new Response(bytes).body },
    50_000_000,
  );
  expect(r.status).toBe(201);
}
const segment = (streamId: string, seq: number, lane: "live" | "late" = "live", gapWaitMs?: number) =>
  segmentChunk(deps(gapWaitMs), streamId, seq, { lastAttempt: false, lane });
async function segments(streamId: string) {
  return (
    await sql<{ seq: number; start_offset: number; duration: number; discontinuity: boolean; late: boolean }>`
    select seq, start_offset, duration, discontinuity, late from segments where stream_id = ${streamId} order by seq`.execute(database.db)
  ).rows;
}
const chunkState = async (streamId: string, seq: number) =>
  (
    await sql<{
      state: string;
      failure_reason: string | null;
    }>`select state, failure_reason from chunks where stream_id = ${streamId} and seq = ${seq}`.execute(database.db)
  ).rows[0];
const jobs = async (streamId: string) =>
  (
    await sql<{ task_identifier: string; seq: number }>`
    select t.identifier as task_identifier, (j.payload->>'seq')::int as seq
    from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
    where j.payload->>'streamId' = ${streamId} order by j.run_at, j.id`.execute(database.db)
  ).rows;

describe("segmentChunk", () => {
  test("chunks in order become back-to-back segments; a second run of the same seq changes nothing", async () => {
    const id = await createStream(database.db, reporter, { title: "in order" });
    const before = await latestEventId(database.db);
    await upload(id, 0);
    await upload(id, 1);
    expect(await segment(id, 0)).toBe("done");
    expect(await segment(id, 1)).toBe("done");
    const [s0, s1] = await segments(id);
    expect(s0).toMatchObject({ seq: 0, start_offset: 0, discontinuity: false, late: false });
    expect(s0!.duration).toBeGreaterThan(0.5);
    expect(s1!.start_offset).toBeCloseTo(s0!.duration, 3);
    expect((await chunkState(id, 0))?.state).toBe("segmented");
    expect((await eventsAfter(database.db, before, 100)).filter((e) => e.type === "segment.created" && e.stream_id === id).map((e) => e.data.seq)).toEqual([
      0, 1,
    ]);
    expect(await segment(id, 0)).toBe("skipped");
    expect(await segments(id)).toHaveLength(2);
  });

  test("a gap is waited for, then left room for; the missing chunk fills it later, marked late", async () => {
    const id = await createStream(database.db, reporter, { title: "gap" });
    await upload(id, 0);
    expect(await segment(id, 0)).toBe("done");
    await upload(id, 2);
    expect(await segment(id, 2)).toBe("waiting");
    expect(await segment(id, 2, "live", 0)).toBe("done");
    const s = await segments(id);
    expect(s[1]).toMatchObject({ seq: 2, discontinuity: true, late: false });
    // Room for one missing segment of the average length.
    expect(s[1]!.start_offset).toBeCloseTo(2 * s[0]!.duration, 3);
    await upload(id, 1);
    expect(await segment(id, 1)).toBe("deferred");
    expect(await segment(id, 1, "late")).toBe("done");
    expect((await segments(id)).find((x) => x.seq === 1)).toMatchObject({ late: true, start_offset: s[0]!.duration });
  });

  test("with a backlog on the live lane the edge jumps to the newest chunk, and the skipped ones go to the late lane", async () => {
    const id = await createStream(database.db, reporter, { title: "backlog" });
    for (let seq = 0; seq < 4; seq++) await upload(id, seq);
    expect(await segment(id, 0)).toBe("jumped");
    expect((await segments(id)).map((s) => [s.seq, s.discontinuity])).toEqual([[3, true]]);
    expect((await jobs(id)).filter((j) => j.task_identifier === "segment_late").map((j) => j.seq)).toEqual([0, 1, 2]);
    expect(await segment(id, 1)).toBe("deferred");
    for (const seq of [0, 1, 2]) expect(await segment(id, seq, "late")).toBe("done");
    expect((await segments(id)).map((s) => [s.seq, s.late])).toEqual([
      [0, true],
      [1, true],
      [2, true],
      [3, false],
    ]);
  });

  test("input ffmpeg refuses marks the chunk failed with one line, announced, and the stream goes on", async () => {
    const id = await createStream(database.db, reporter, { title: "bad" });
    const key = `streams/${id}/chunks/0/junk.mp4`;
    const put = await store.put(key, new Uint8Array(4096).fill(7));
    await insertChunk(database.db, {
      stream_id: id,
      seq: 0,
      object_key: key,
      sha256: put.sha256,
      size: put.size,
      content_type: "video/mp4",
      capture_start: null,
      uploaded_by: reporter.id,
    });
    const before = await latestEventId(database.db);
    expect(await segment(id, 0)).toBe("failed");
    const state = await chunkState(id, 0);
    expect(state?.state).toBe("failed");
    expect(state?.failure_reason).not.toContain("\n");
    expect(state?.failure_reason).not.toContain(tmpdir());
    expect((await eventsAfter(database.db, before, 100)).some((e) => e.type === "chunk.failed" && e.stream_id === id)).toBe(true);
    expect(await segment(id, 0)).toBe("skipped");
    await upload(id, 1);
    expect(await segment(id, 1, "live", 0)).toBe("done");
  });
});
