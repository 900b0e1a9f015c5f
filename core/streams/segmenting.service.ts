import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Kysely } from "kysely";
import type { DB } from "../db/schema.ts";
import { isAppError } from "../errors.ts";
import { publish } from "../events/events.service.ts";
import type { Logger } from "../log.ts";
import { makeSegment } from "../media/segment.ts";
import type { ObjectStore } from "../storage/store.ts";
import { addPosterJob, addSegmentJob, findChunk, findSegment } from "./streams.repository.ts";

export interface MediaDeps {
  db: Kysely<DB>;
  store: ObjectStore;
  log: Logger;
  ffmpeg: string;
  ffprobe: string;
  ffmpegTimeoutMs: number;
  gapWaitMs: number;
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

/** Where seq starts on the stream's media timeline, and whether it follows a gap or came late. */
async function placement(db: Kysely<DB>, streamId: string, seq: number, gapWaitMs: number, receivedAt: Date) {
  const prev = await db.selectFrom("segments").selectAll().where("stream_id", "=", streamId).where("seq", "<", seq).orderBy("seq", "desc").limit(1).executeTakeFirst();
  const later = await db.selectFrom("segments").select("seq").where("stream_id", "=", streamId).where("seq", ">", seq).where("late", "=", false).limit(1).executeTakeFirst();
  const prevEnd = prev ? prev.start_offset + prev.duration : 0;
  const missing = seq - (prev ? prev.seq : -1) - 1;
  if (missing === 0) return { wait: false, offset: prevEnd, discontinuity: false, late: Boolean(later) };
  // Something before seq has no segment yet. A chunk that arrived is waited for (its job is in
  // this stream's queue, or retrying); one that never arrived holds the timeline only for the gap
  // wait. Failed chunks do not hold anything.
  const between = await db
    .selectFrom("chunks")
    .select(["seq", "state", "received_at"])
    .where("stream_id", "=", streamId)
    .where("seq", ">", prev ? prev.seq : -1)
    .where("seq", "<", seq)
    .execute();
  const arrivedPending = between.some((c) => c.state === "stored") && Date.now() - receivedAt.getTime() < ARRIVED_WAIT_MS;
  const notArrived = between.length < missing && Date.now() - receivedAt.getTime() < gapWaitMs;
  if (arrivedPending || notArrived) return { wait: true, offset: 0, discontinuity: false, late: false };
  // Give up waiting: leave room on the timeline for what is missing, so a late arrival fits there.
  const avg = await db.selectFrom("segments").select((eb) => eb.fn.avg<number>("duration").as("d")).where("stream_id", "=", streamId).executeTakeFirstOrThrow();
  const each = Number(avg.d) || prev?.duration || DEFAULT_SEGMENT_SEC;
  return { wait: false, offset: prevEnd + missing * each, discontinuity: true, late: Boolean(later) };
}

/**
 * segment_chunk: one stored chunk → one HLS segment on the stream's continuous timeline. Output
 * goes to a fresh object key and the segment row is the commit point, so a job that runs twice
 * (a resurrected worker) leaves exactly one segment. Input ffmpeg rejects marks the chunk failed
 * with the reason and the stream goes on; anything else is retried by the queue.
 */
export async function segmentChunk(deps: MediaDeps, streamId: string, seq: number, opts: { signal?: AbortSignal; lastAttempt: boolean }): Promise<"done" | "waiting" | "failed" | "skipped"> {
  const { db, store, log } = deps;
  const chunk = await findChunk(db, streamId, seq);
  if (!chunk || chunk.state !== "stored") return "skipped";
  if (await findSegment(db, streamId, seq)) {
    await db.updateTable("chunks").set({ state: "segmented" }).where("stream_id", "=", streamId).where("seq", "=", seq).execute();
    return "skipped";
  }
  const place = await placement(db, streamId, seq, deps.gapWaitMs, new Date(chunk.received_at));
  const owner = (await db.selectFrom("streams").select("owner_id").where("id", "=", streamId).executeTakeFirst())?.owner_id ?? null;
  if (place.wait) {
    await addSegmentJob(db, streamId, seq, new Date(Date.now() + WAIT_POLL_MS));
    return "waiting";
  }
  try {
    return await withTempDir(async (dir) => {
      const input = join(dir, `in-${seq}`);
      const output = join(dir, `seg-${seq}.ts`);
      await download(store, chunk.object_key, input);
      const made = await makeSegment({ ffmpeg: deps.ffmpeg, ffprobe: deps.ffprobe, input, output, offsetSec: place.offset, timeoutMs: deps.ffmpegTimeoutMs, signal: opts.signal });
      const key = `streams/${streamId}/segments/${seq}/${crypto.randomUUID()}.ts`;
      const put = await store.put(key, Bun.file(output).stream(), { contentType: "video/mp2t" });
      const inserted = await db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto("segments")
          .values({
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
          })
          .onConflict((oc) => oc.columns(["stream_id", "seq"]).doNothing())
          .returning("seq")
          .executeTakeFirst();
        await trx.updateTable("chunks").set({ state: "segmented" }).where("stream_id", "=", streamId).where("seq", "=", seq).execute();
        if (row) {
          await addPosterJob(trx, streamId);
          // A successor waiting on this seq need not sit out its poll interval.
          const next = await trx.selectFrom("chunks").select("seq").where("stream_id", "=", streamId).where("seq", "=", seq + 1).where("state", "=", "stored").executeTakeFirst();
          if (next) await addSegmentJob(trx, streamId, seq + 1);
          await publish(trx, { type: "segment.created", streamId, ownerId: owner, data: { seq, duration: made.durationSec, late: place.late, discontinuity: place.discontinuity } });
        }
        return row;
      });
      if (!inserted) await store.delete(key).catch(() => {});
      log.debug("segment made", { streamId, seq, remuxed: made.remuxed, duration: made.durationSec, offset: place.offset, late: place.late });
      return "done" as const;
    });
  } catch (e) {
    const rejected = isAppError(e) && e.code === "unprocessable";
    if (rejected || opts.lastAttempt) {
      const reason = (e as Error).message.slice(0, 2000);
      await db.transaction().execute(async (trx) => {
        await trx.updateTable("chunks").set({ state: "failed", failure_reason: reason }).where("stream_id", "=", streamId).where("seq", "=", seq).execute();
        await publish(trx, { type: "chunk.failed", streamId, ownerId: owner, data: { seq, reason: reason.split("\n")[0] } });
        const next = await trx.selectFrom("chunks").select("seq").where("stream_id", "=", streamId).where("seq", "=", seq + 1).where("state", "=", "stored").executeTakeFirst();
        if (next) await addSegmentJob(trx, streamId, seq + 1);
      });
      log.warn("chunk failed", { streamId, seq, reason: reason.split("\n")[0] });
      if (rejected) return "failed";
    }
    throw e;
  }
}
