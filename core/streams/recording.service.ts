import { join } from "node:path";
import { assembleRecording, makePoster } from "../media/segment.ts";
import { publish } from "../events/events.service.ts";
import { activeHold, queueObjectHoldSync } from "../retention/holds.service.ts";
import { isAppError } from "../errors.ts";
import { allChunksSettled, findStream, listSegments, newestLiveSegment, setRecording } from "./streams.repository.ts";
import { download, sha256File, withTempDir, type MediaDeps } from "./segmenting.service.ts";
import { posterDue, storePoster } from "./poster-store.ts";
import { runFfmpeg } from "../media/ffmpeg.ts";
import { fmp4PosterArgs, fmp4RecordingArgs } from "../media/fmp4-args.ts";
import { MediaError } from "../media/media-error.ts";
import { allPartObjects, findInit, newestIndependentPart } from "./cmaf-parts.repository.ts";

/** A finished stream waits this long at most for its last chunks to settle before it is assembled anyway. */
const SETTLE_LIMIT_MS = 10 * 60_000;
const SETTLE_POLL_MS = 1_000;

/** make_poster: a still from the newest live segment, for the operator grid. */
export async function refreshPoster(deps: MediaDeps, streamId: string, signal?: AbortSignal): Promise<void> {
  const { db, store } = deps;
  const seg = await newestLiveSegment(db, streamId);
  if (!seg) return;
  await withTempDir(async (dir) => {
    const input = join(dir, "seg.ts");
    const output = join(dir, "poster.jpg");
    await download(store, seg.object_key, input);
    try {
      await makePoster({ ffmpeg: deps.ffmpeg, input, output, timeoutMs: deps.ffmpegTimeoutMs, signal });
    } catch (e) {
      // A segment with no decodable frame (a recorder stopped a moment after it started) gives
      // no poster; the next segment will. Not worth a retry loop in the trouble queue.
      if (isAppError(e) && e.code === "unprocessable") {
        deps.log.info("no poster from this segment", { streamId, seq: seg.seq, reason: e.message.split("\n")[0] });
        return;
      }
      throw e;
    }
    await storePoster(deps, streamId, seg.seq, output);
  });
}

/**
 * make_part_poster: a CMAF stream's still, from its newest key frame — the newest independent
 * part written after the init is a one-part fragmented MP4 whose first frame decodes alone.
 */
export async function refreshPartPoster(deps: MediaDeps, streamId: string, signal?: AbortSignal): Promise<void> {
  const { db, store } = deps;
  // The phone may have sent a still since this job was asked for (web/report/poster.ts): then
  // there is nothing to decode.
  if (!(await posterDue(db, streamId))) return;
  const [init, part] = await Promise.all([findInit(db, streamId), newestIndependentPart(db, streamId)]);
  if (!init || !part) return;
  await withTempDir(async (dir) => {
    const input = join(dir, "part.mp4");
    const output = join(dir, "poster.jpg");
    const [head, body] = await Promise.all([store.getBytes(init.object_key), store.getBytes(part.object_key)]);
    await Bun.write(input, Buffer.concat([head, body]));
    try {
      await runFfmpeg(deps.ffmpeg, fmp4PosterArgs({ input, output }), { timeoutMs: deps.ffmpegTimeoutMs, signal });
      if (Bun.file(output).size === 0) throw new MediaError("unprocessable", "ffmpeg wrote no poster");
    } catch (e) {
      // Checked boxes, but a frame the decoder will not take: the next key frame gets its chance.
      if (isAppError(e) && e.code === "unprocessable") {
        deps.log.info("no poster from this part", { streamId, seq: part.seq, reason: e.message.split("\n")[0] });
        return;
      }
      throw e;
    }
    await storePoster(deps, streamId, part.seq, output);
  });
}

/**
 * assemble_recording: after finish, once every chunk is segmented or failed, all segments (late
 * ones included, in seq order) become one faststart MP4 with its SHA-256. Runs once per stream;
 * a rerun after success does nothing.
 */
export async function assembleStreamRecording(
  deps: MediaDeps,
  streamId: string,
  reschedule: (at: Date) => Promise<void>,
  signal?: AbortSignal,
): Promise<"done" | "waiting" | "skipped"> {
  const { db, store } = deps;
  const s = await findStream(db, streamId);
  if (!s || s.state === "live" || s.recording_key) return "skipped";
  const waitedMs = Date.now() - new Date(s.finished_at ?? Date.now()).getTime();
  if (!(await allChunksSettled(db, streamId)) && waitedMs < SETTLE_LIMIT_MS) {
    await reschedule(new Date(Date.now() + SETTLE_POLL_MS));
    return "waiting";
  }
  if (s.media_format === "cmaf") return assembleCmafRecording(deps, streamId, signal);
  const segments = await listSegments(db, streamId, { includeLate: true });
  if (segments.length === 0) return "skipped";
  await withTempDir(async (dir) => {
    const files: string[] = [];
    for (const g of segments) {
      const f = join(dir, `${String(g.seq).padStart(7, "0")}.ts`);
      await download(store, g.object_key, f);
      files.push(f);
    }
    const output = join(dir, "recording.mp4");
    await assembleRecording({
      ffmpeg: deps.ffmpeg,
      segmentFiles: files,
      segmentDurationsSec: segments.map((g) => g.duration),
      output,
      timeoutMs: deps.ffmpegTimeoutMs * 10,
      signal,
    });
    await storeRecording(deps, streamId, output, { segments: segments.length });
  });
  return "done";
}

/**
 * A CMAF stream's recording: init + every part in seq order (late ones in their place) is one
 * valid fragmented MP4, written to disk part by part; ffmpeg copies it into a faststart MP4.
 */
async function assembleCmafRecording(deps: MediaDeps, streamId: string, signal?: AbortSignal): Promise<"done" | "skipped"> {
  const { db, store } = deps;
  const [init, parts] = await Promise.all([findInit(db, streamId), allPartObjects(db, streamId)]);
  if (!init || parts.length === 0) return "skipped";
  await withTempDir(async (dir) => {
    const input = join(dir, "fragmented.mp4");
    const sink = Bun.file(input).writer();
    try {
      for (const key of [init.object_key, ...parts.map((p) => p.object_key)]) {
        for await (const c of await store.get(key)) sink.write(c);
        await sink.flush();
      }
    } finally {
      await sink.end();
    }
    const output = join(dir, "recording.mp4");
    await runFfmpeg(deps.ffmpeg, fmp4RecordingArgs({ input, output }), { timeoutMs: deps.ffmpegTimeoutMs * 10, signal });
    await storeRecording(deps, streamId, output, { parts: parts.length });
  });
  return "done";
}

/** Hashes and stores a made recording, then records it on the stream (first writer wins). */
async function storeRecording(deps: MediaDeps, streamId: string, output: string, what: Record<string, number>): Promise<void> {
  const { db, store, log } = deps;
  const sha256 = await sha256File(output);
  const key = `streams/${streamId}/recording/${crypto.randomUUID()}.mp4`;
  const put = await store.put(key, Bun.file(output).stream(), { contentType: "video/mp4" });
  if (put.sha256 !== sha256) throw new Error("recording changed while it was uploaded");
  const updated = await db.transaction().execute(async (trx) => {
    const row = await setRecording(trx, streamId, { key, sha256, size: put.size });
    if (row) {
      await publish(trx, { type: "recording.ready", streamId, ownerId: row.owner_id, data: { sha256, size: put.size } });
      // A stream held while live: its newest objects (this recording, the last segments) get the object lock too.
      if (await activeHold(trx, { stream_id: streamId })) await queueObjectHoldSync(trx, { stream_id: streamId });
    }
    return row;
  });
  if (!updated) await store.delete(key).catch(() => {});
  log.info("recording assembled", { streamId, ...what, bytes: put.size, sha256 });
}
