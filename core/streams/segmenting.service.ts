import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Kysely, Transaction } from "kysely";
import type { DB } from "../db/schema.ts";
import { isAppError } from "../errors.ts";
import { publish } from "../events/events.service.ts";
import type { Logger } from "../log.ts";
import { isMediaError } from "../media/media-error.ts";
import { makeSegment } from "../media/segment.ts";
import type { ObjectStore } from "../storage/store.ts";
import { containerOf } from "./container.ts";
import { posterDue, storePoster } from "./poster-store.ts";
import * as repo from "./segmenting.repository.ts";
import { addLateSegmentJob, addSegmentJob, findChunk, findSegment } from "./streams.repository.ts";

export interface MediaDeps {
  db: Kysely<DB>;
  store: ObjectStore;
  log: Logger;
  ffmpeg: string;
  ffmpegTimeoutMs: number;
  gapWaitMs: number;
}

/**
 * Live first: a live segment job with this many stored chunks of its stream waiting behind it
 * (two chunk lengths of backlog) jumps to the newest one, and what it skipped is made at batch
 * priority for the recording, where nothing is lost.
 */
export const LIVE_BACKLOG_CHUNKS = 2;

/** Which queue a segment job came from: the stream's live queue, or the batch backlog behind the live edge. */
export type SegmentLane = "live" | "late";

type Db = Kysely<DB> | Transaction<DB>;

/** Queues seq's segment job where it belongs: behind the live edge it is batch work. */
async function queueSegment(db: Db, streamId: string, seq: number, runAt?: Date): Promise<void> {
  if (seq < (await repo.liveEdge(db, streamId))) await addLateSegmentJob(db, streamId, seq, runAt);
  else await addSegmentJob(db, streamId, seq, runAt);
}

/** How soon a segment job waiting for its predecessor looks again. */
const WAIT_POLL_MS = 250;
const DEFAULT_SEGMENT_SEC = 2;
/** A chunk that arrived but is not segmented yet holds its successors this long at most (its job may be retrying). */
const ARRIVED_WAIT_MS = 60_000;

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "rter-job-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function download(store: ObjectStore, key: string, path: string): Promise<void> {
  await Bun.write(path, new Response(await store.get(key)));
}

export async function sha256File(path: string): Promise<string> {
  const h = new Bun.CryptoHasher("sha256");
  for await (const c of Bun.file(path).stream()) h.update(c);
  return h.digest("hex");
}

interface Placement {
  wait: boolean;
  offset: number;
  discontinuity: boolean;
  late: boolean;
}

/**
 * Where the newest chunk goes when the live edge jumps to it: after the last segment before it,
 * with room left for the skipped ones (made later, late) and a discontinuity.
 */
async function jumpPlacement(db: Db, streamId: string, seq: number): Promise<Placement> {
  const prev = await repo.previousSegment(db, streamId, seq);
  const missing = seq - (prev ? prev.seq : -1) - 1;
  const each = (await repo.meanSegmentDuration(db, streamId)) || prev?.duration || DEFAULT_SEGMENT_SEC;
  return { wait: false, offset: (prev ? prev.start_offset + prev.duration : 0) + missing * each, discontinuity: missing > 0, late: false };
}

/** Where seq starts on the stream's media timeline, and whether it follows a gap or came late. */
async function placement(db: Kysely<DB>, streamId: string, seq: number, gapWaitMs: number, receivedAt: Date): Promise<Placement> {
  const prev = await repo.previousSegment(db, streamId, seq);
  const later = await repo.hasLiveSegmentAfter(db, streamId, seq);
  const prevEnd = prev ? prev.start_offset + prev.duration : 0;
  const missing = seq - (prev ? prev.seq : -1) - 1;
  if (missing === 0) return { wait: false, offset: prevEnd, discontinuity: false, late: later };
  // Something before seq has no segment yet. A chunk that arrived is waited for (its job is in
  // this stream's queue, or retrying); one that never arrived holds the timeline only for the gap
  // wait. Failed chunks do not hold anything.
  const between = await repo.chunksBetween(db, streamId, prev ? prev.seq : -1, seq);
  const arrivedPending = between.some((c) => c.state === "stored") && Date.now() - receivedAt.getTime() < ARRIVED_WAIT_MS;
  const notArrived = between.length < missing && Date.now() - receivedAt.getTime() < gapWaitMs;
  if (arrivedPending || notArrived) return { wait: true, offset: 0, discontinuity: false, late: false };
  // Give up waiting: leave room on the timeline for what is missing, so a late arrival fits there.
  const each = (await repo.meanSegmentDuration(db, streamId)) || prev?.duration || DEFAULT_SEGMENT_SEC;
  return { wait: false, offset: prevEnd + missing * each, discontinuity: true, late: later };
}

/**
 * segment_chunk / segment_late: one stored chunk → one HLS segment on the stream's continuous
 * timeline. Output goes to a fresh object key and the segment row is the commit point, so a job
 * that runs twice (a resurrected worker) leaves exactly one segment. Input we refuse marks the
 * chunk failed with a one-line reason and the stream goes on; anything else is retried.
 *
 * On the live lane, a job with LIVE_BACKLOG_CHUNKS or more chunks waiting behind it segments the
 * newest one instead (the live playlist jumps, with a discontinuity) and moves itself and the
 * rest to the late lane: batch priority, a queue of their own, in arrival order. A chunk already
 * behind the live edge (it arrived after its successors) goes to the late lane too.
 */
export async function segmentChunk(
  deps: MediaDeps,
  streamId: string,
  seq: number,
  opts: { signal?: AbortSignal; lastAttempt: boolean; lane?: SegmentLane },
): Promise<"done" | "waiting" | "failed" | "skipped" | "jumped" | "deferred"> {
  const { db } = deps;
  const lane = opts.lane ?? "live";
  const chunk = await findChunk(db, streamId, seq);
  if (!chunk || chunk.state !== "stored") return "skipped";
  if (await findSegment(db, streamId, seq)) {
    await repo.markChunkSegmented(db, streamId, seq);
    return "skipped";
  }
  const edge = lane === "live" ? await repo.liveEdge(db, streamId) : -1;
  if (lane === "live" && seq < edge) {
    // Behind the live edge already (it arrived late): recording work, not live work.
    await addLateSegmentJob(db, streamId, seq, new Date(chunk.received_at));
    return "deferred";
  }
  if (lane === "live" && seq > edge) {
    const newest = await repo.newestStoredChunk(db, streamId);
    if (newest && newest.seq - seq >= LIVE_BACKLOG_CHUNKS) {
      const outcome = await segmentOne(deps, newest, await jumpPlacement(db, streamId, newest.seq), { ...opts, lastAttempt: false });
      deps.log.info("live edge jumped", { streamId, from: seq, to: newest.seq, outcome });
      if (outcome === "done") {
        // Everything skipped, this job's own chunk included, is finished for the recording, oldest
        // first. Should this not commit, the job is retried and finds itself behind the edge.
        await db.transaction().execute(async (trx) => {
          const skipped = await repo.storedChunksBetween(trx, streamId, seq, newest.seq);
          for (const c of skipped) await addLateSegmentJob(trx, streamId, c.seq, new Date(c.received_at));
        });
      } else {
        // A refused newest chunk does not move the edge: this job's chunk is still due on the live lane.
        await addSegmentJob(db, streamId, seq);
      }
      return "jumped";
    }
  }
  const place = await placement(db, streamId, seq, deps.gapWaitMs, new Date(chunk.received_at));
  if (place.wait) {
    if (lane === "late") await addLateSegmentJob(db, streamId, seq, new Date(Date.now() + WAIT_POLL_MS));
    else await addSegmentJob(db, streamId, seq, new Date(Date.now() + WAIT_POLL_MS));
    return "waiting";
  }
  return segmentOne(deps, chunk, place, opts);
}

type ChunkRow = NonNullable<Awaited<ReturnType<typeof findChunk>>>;

/** Makes and commits one segment, or marks its chunk failed when the input is refused. */
async function segmentOne(
  deps: MediaDeps,
  chunk: ChunkRow,
  place: Placement,
  opts: { signal?: AbortSignal; lastAttempt: boolean },
): Promise<"done" | "failed"> {
  const { db, store, log } = deps;
  const { stream_id: streamId, seq } = chunk;
  const owner = await repo.streamOwner(db, streamId);
  try {
    return await withTempDir(async (dir) => {
      const input = join(dir, `in-${seq}`);
      const output = join(dir, `seg-${seq}.ts`);
      // The grid's poster comes out of the same ffmpeg run (every few seconds, live segments only):
      // one process per chunk, where a poster job of its own cost as much again.
      const poster = !place.late && (await posterDue(db, streamId)) ? join(dir, `poster-${seq}.jpg`) : undefined;
      // Held in memory once: written for ffmpeg and probed from here; the segment comes back as bytes too.
      const inputBytes = await store.getBytes(chunk.object_key);
      await Bun.write(input, inputBytes);
      const declared = containerOf(chunk.content_type);
      const made = await makeSegment({
        ffmpeg: deps.ffmpeg,
        input,
        inputBytes,
        container: declared === "webm" ? "matroska" : declared,
        output,
        offsetSec: place.offset,
        timeoutMs: deps.ffmpegTimeoutMs,
        signal: opts.signal,
        poster,
      });
      const key = `streams/${streamId}/segments/${seq}/${crypto.randomUUID()}.ts`;
      const put = await store.put(key, made.bytes, { contentType: "video/mp2t" });
      const inserted = await db.transaction().execute(async (trx) => {
        const row = await repo.insertSegment(trx, {
          stream_id: streamId,
          seq,
          object_key: key,
          sha256: put.sha256,
          size: put.size,
          duration: made.durationSec,
          start_offset: place.offset,
          program_date_time: chunk.capture_start ?? chunk.received_at,
          discontinuity: place.discontinuity,
          late: place.late,
          remuxed: made.remuxed,
        });
        await repo.markChunkSegmented(trx, streamId, seq);
        if (row) {
          // A successor waiting on this seq need not sit out its poll interval.
          if (await repo.isChunkStored(trx, streamId, seq + 1)) await queueSegment(trx, streamId, seq + 1);
          await publish(trx, {
            type: "segment.created",
            streamId,
            ownerId: owner,
            data: { seq, duration: made.durationSec, late: place.late, discontinuity: place.discontinuity },
          });
        }
        return row;
      });
      if (!inserted) await store.delete(key).catch(() => {});
      else if (poster && made.poster) {
        // A poster is a nicety: failing to store one never fails the segment.
        await storePoster(deps, streamId, seq, poster).catch((e) => log.warn("poster not stored", { streamId, seq, error: (e as Error).message }));
      }
      log.debug("segment made", { streamId, seq, remuxed: made.remuxed, duration: made.durationSec, offset: place.offset, late: place.late });
      return "done" as const;
    });
  } catch (e) {
    const rejected = isAppError(e) && e.code === "unprocessable";
    if (rejected || opts.lastAttempt) {
      // Reporters read this: our one-line reason only, never a tool's output (it names server paths).
      const reason = (isMediaError(e) ? e.reason : rejected ? (e as Error).message.split("\n")[0]! : "the chunk could not be processed").slice(0, 500);
      await db.transaction().execute(async (trx) => {
        await repo.markChunkFailed(trx, streamId, seq, reason);
        await publish(trx, { type: "chunk.failed", streamId, ownerId: owner, data: { seq, reason } });
        if (await repo.isChunkStored(trx, streamId, seq + 1)) await queueSegment(trx, streamId, seq + 1);
      });
      log.warn("chunk failed", { streamId, seq, reason, detail: isMediaError(e) ? e.stderrTail.slice(-500) : (e as Error).message });
      if (rejected) return "failed";
    }
    throw e;
  }
}
