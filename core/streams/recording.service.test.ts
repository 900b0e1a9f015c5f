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
import { contentTypeOf, durationOf, makeChunks } from "../../test/support/media.ts";
import { ingestChunk } from "./chunks.service.ts";
import { assembleStreamRecording, refreshPoster } from "./recording.service.ts";
import { segmentChunk, type MediaDeps } from "./segmenting.service.ts";
import { createStream, finishStream } from "./streams.service.ts";

// The recording and the grid's poster, made with real ffmpeg from segments it made.

setDefaultTimeout(120_000);

let database: Database;
let store: ObjectStore;
let reporter: AuthUser;
let deps: MediaDeps;
const KIND = "mp4-h264-aac" as const;

/** A stream with `n` one-second chunks uploaded; the first `segmented` of them segmented. */
async function streamWith(chunks: Uint8Array<ArrayBuffer>[], segmented: number): Promise<string> {
  const id = await createStream(database.db, reporter, { title: "rec" });
  // Each segmented as it arrives, as a keeping-up worker does (a backlog would make the live edge jump).
  for (const [seq, bytes] of chunks.entries()) {
    await ingestChunk(
      database.db,
      store,
      reporter,
      {
        streamId: id,
        seq: String(seq),
        contentType: contentTypeOf(KIND),
        contentLength: String(bytes.length),
        chunkStart: null,
        body: new Response(bytes).body,
      },
      50_000_000,
    );
    if (seq < segmented) expect(await segmentChunk(deps, id, seq, { lastAttempt: false })).toBe("done");
  }
  return id;
}
const streamRow = async (id: string) =>
  (
    await sql<{
      recording_key: string | null;
      recording_sha256: string | null;
      poster_key: string | null;
    }>`select recording_key, recording_sha256, poster_key from streams where id = ${id}`.execute(database.db)
  ).rows[0]!;

let chunks: Uint8Array<ArrayBuffer>[];
beforeAll(async () => {
  let ffmpeg: string;
  [database, chunks, ffmpeg] = await Promise.all([migratedDatabase("recording-test"), makeChunks(KIND, 3), locateFfmpeg(null)]);
  store = createDiskStore(mkdtempSync(join(tmpdir(), "rter-recording-")));
  await store.ensure();
  reporter = await makeUser(database, "r@city.example", "reporter");
  deps = { db: database.db, store, log: createLogger("error"), ffmpeg, ffmpegTimeoutMs: 60_000, gapWaitMs: 0 };
}, 120_000);
afterAll(() => database?.close());

describe("recording", () => {
  test("waits while chunks are unsegmented, then makes one MP4 of every segment, once", async () => {
    const id = await streamWith(chunks, 2);
    expect(await assembleStreamRecording(deps, id, async () => {})).toBe("skipped"); // still live
    await finishStream(database.db, reporter, id);
    const asked: Date[] = [];
    expect(await assembleStreamRecording(deps, id, async (at) => void asked.push(at))).toBe("waiting");
    expect(asked).toHaveLength(1);
    expect(await segmentChunk(deps, id, 2, { lastAttempt: false })).toBe("done");

    const before = await latestEventId(database.db);
    expect(await assembleStreamRecording(deps, id, async () => {})).toBe("done");
    const row = await streamRow(id);
    expect(row.recording_key).toStartWith(`streams/${id}/recording/`);
    const bytes = await store.getBytes(row.recording_key!);
    expect(new Bun.CryptoHasher("sha256").update(bytes).digest("hex")).toBe(row.recording_sha256!);
    expect(await durationOf(bytes, "mp4")).toBeGreaterThan(2.5);
    expect((await eventsAfter(database.db, before, 100)).filter((e) => e.type === "recording.ready" && e.stream_id === id)).toHaveLength(1);
    // Made once: a rerun leaves it as it is.
    expect(await assembleStreamRecording(deps, id, async () => {})).toBe("skipped");
    expect((await streamRow(id)).recording_key).toBe(row.recording_key);
  });
});

describe("poster", () => {
  test("a still from the newest live segment; a newer one replaces it and the old object goes", async () => {
    const id = await streamWith(chunks.slice(0, 1), 1);
    // Segmenting may have made a poster on the way: start from what is there.
    const first = (await streamRow(id)).poster_key;
    const before = await latestEventId(database.db);
    await refreshPoster(deps, id);
    const poster = (await streamRow(id)).poster_key!;
    expect(poster).not.toBe(first);
    expect(poster).toStartWith(`streams/${id}/posters/`);
    const jpeg = await store.getBytes(poster);
    expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8]);
    expect((await eventsAfter(database.db, before, 100)).some((e) => e.type === "poster.updated" && e.stream_id === id)).toBe(true);
    await refreshPoster(deps, id);
    expect((await streamRow(id)).poster_key).not.toBe(poster);
    expect(
      await store.getBytes(poster).then(
        () => "there",
        () => "gone",
      ),
    ).toBe("gone");
  });

  test("a stream with no segment yet gets none", async () => {
    const id = await createStream(database.db, reporter, { title: "empty" });
    await refreshPoster(deps, id);
    expect((await streamRow(id)).poster_key).toBeNull();
  });
});
