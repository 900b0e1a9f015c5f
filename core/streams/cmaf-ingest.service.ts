import type { Kysely } from "kysely";
import type { AuthUser } from "../auth/auth.service.ts";
import { audit, auditRow } from "../audit/audit.service.ts";
import type { DB } from "../db/schema.ts";
import { AppError, type ErrorCode } from "../errors.ts";
import { continuityTolerance, FAULT_CLASS, parseFragments, parseInit, type Failure, type InitTrack, type TrackRun } from "../media/fmp4.ts";
import type { ObjectStore } from "../storage/store.ts";
import type { ChunkResult, ChunkUpload } from "./chunks.service.ts";
import { MAX_SEQ } from "./chunks.service.ts";
import { GAP_WAIT_MS } from "./cmaf-gaps.ts";
import { CMAF_INIT_TYPE, CMAF_SEGMENT_TYPE, type CmafChunkMedia, type CmafTrack } from "./cmaf.model.ts";
import * as repo from "./cmaf-ingest.repository.ts";
import { posterDue, posterJob } from "./cmaf-parts.repository.ts";
import { findChunk } from "./streams.repository.ts";
import { assertCanView, assertCanWrite } from "./access.ts";
import { isUuid } from "../ids.ts";
import { readBody } from "./upload-body.ts";
import { reopenIfIdle } from "./idle.service.ts";
import { parseCaptureTime, writableStream } from "./streams.service.ts";

/**
 * CMAF ingest (issue 10): the phone packages fragmented MP4 itself, and the API node only checks
 * the boxes (core/media/fmp4.ts) and lists each chunk as an LL-HLS part the moment it commits.
 * No ffmpeg, no job. Durable in object storage and recorded in Postgres before the answer, like a
 * classic chunk; the same 201 / 200 (identical retry) / 409 (different bytes) semantics.
 *
 * Statuses: bytes that are not a well-formed fragmented MP4 → 400; well-formed but not taken (a
 * text track, base_data_offset) → 415; well-formed but breaking the stream's rules (track not in
 * the init, decode time not continuous with the neighbours, no key frame where one is due,
 * duration out of bounds) → 422. Every answer names the fault, its place and the numbers.
 */

/** An init segment is a few hundred bytes to a few KiB (codec config); more is not an init. */
export const MAX_INIT_BYTES = 64 * 1024;
/** Contract: 0.2–2 s per chunk; shorter is taken because the last part before Stop is short. */
export const MAX_PART_SEC = 2;
/** Tracks end at different points (an audio frame is 20–21 ms, a video frame up to 42 ms). */
const PART_SLACK_SEC = 0.1;
/** Contract: a key frame at least every 2 s (of media). */
export const MAX_KEY_INTERVAL_SEC = 2;
/** Parts looked back at for the last key frame: 2 s of the shortest parts (0.2 s) plus some. */
const KEY_LOOKBACK = 16;

export interface InitUpload {
  streamId: string;
  contentType: string | null;
  contentLength: string | null;
  body: ReadableStream<Uint8Array> | null;
}

export interface InitResult {
  status: 200 | 201;
  sha256: string;
  tracks: CmafTrack[];
}

const STATUS_OF: Record<(typeof FAULT_CLASS)[keyof typeof FAULT_CLASS], ErrorCode> = {
  malformed: "bad_request",
  unsupported: "unsupported_media_type",
  rule: "unprocessable",
};

function refuse(what: string, f: Failure): AppError {
  return new AppError(STATUS_OF[FAULT_CLASS[f.fault]], `${what}: ${f.detail}`, { detail: { fault: f.fault } });
}

function baseType(contentType: string | null): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}

/** True when a chunk upload is CMAF (routes PUT chunks/{seq} here instead of the classic path). */
export function isCmafChunk(contentType: string | null): boolean {
  return baseType(contentType) === CMAF_SEGMENT_TYPE;
}

const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

async function liveStream(db: Kysely<DB>, store: ObjectStore, user: AuthUser, streamId: string) {
  const stream = await reopenIfIdle(db, store, await writableStream(db, user, streamId));
  if (stream.state !== "live") throw new AppError("conflict", `stream is ${stream.state}; it takes no more uploads`);
  return stream;
}

/** PUT /streams/{id}/init: the init segment, checked with parseInit, stored once per stream. */
export async function ingestInit(db: Kysely<DB>, store: ObjectStore, user: AuthUser, up: InitUpload, maxBytes = MAX_INIT_BYTES): Promise<InitResult> {
  const stream = await liveStream(db, store, user, up.streamId);
  if (baseType(up.contentType) !== CMAF_INIT_TYPE)
    throw new AppError("unsupported_media_type", `an init segment is ${CMAF_INIT_TYPE}; got ${baseType(up.contentType) || "(no Content-Type)"}`);
  if (stream.media_format === "classic") throw classicStream();
  const bytes = await readBody(up.body, up.contentLength, maxBytes, "init segment");
  const init = parseInit(bytes);
  if (!init.ok) throw refuse("not a CMAF init segment", init);
  const tracks = init.tracks.map(({ id, kind, timescale, codec }) => ({ id, kind, timescale, codec }));
  const hash = sha256(bytes);
  const existing = await repo.findInitTracks(db, stream.id);
  if (existing) return settleInit(existing.sha256, hash, existing.tracks);

  const key = `streams/${stream.id}/init/${crypto.randomUUID()}.mp4`;
  const put = await store.put(key, bytes, { contentType: CMAF_INIT_TYPE, maxBytes });
  try {
    const inserted = await db.transaction().execute(async (trx) => {
      if (!(await repo.claimFormat(trx, stream.id, "cmaf"))) throw classicStream();
      const row = await repo.insertInit(trx, {
        stream_id: stream.id,
        object_key: key,
        sha256: put.sha256,
        size: put.size,
        content_type: CMAF_INIT_TYPE,
        tracks: init.tracks,
        uploaded_by: user.id,
      });
      if (row) await audit(trx, { action: "init.stored", targetType: "stream", targetId: stream.id, detail: { sha256: put.sha256, size: put.size, tracks } });
      return row;
    });
    if (inserted) return { status: 201, sha256: put.sha256, tracks };
  } catch (e) {
    await store.delete(key).catch(() => {});
    throw e;
  }
  // Another upload of the init won the race: keep theirs, answer as a retry would be.
  await store.delete(key).catch(() => {});
  const winner = (await repo.findInitTracks(db, stream.id))!;
  return settleInit(winner.sha256, put.sha256, winner.tracks);
}

function settleInit(stored: string, sent: string, tracks: InitTrack[]): InitResult {
  if (stored !== sent) throw new AppError("conflict", "a different init segment is already stored for this stream", { detail: { stored_sha256: stored } });
  return { status: 200, sha256: stored, tracks: tracks.map(({ id, kind, timescale, codec }) => ({ id, kind, timescale, codec })) };
}

function classicStream(): AppError {
  return new AppError(
    "conflict",
    "this stream already carries classic chunks (webm/mp4/ts); it takes no CMAF init or video/iso.segment chunks — start a new stream for CMAF",
  );
}

/**
 * PUT /streams/{id}/chunks/{seq} with Content-Type video/iso.segment: one or more moof+mdat,
 * checked against the init's tracks and the neighbouring parts' decode times, then listed.
 */
export async function ingestCmafChunk(
  db: Kysely<DB>,
  store: ObjectStore,
  user: AuthUser,
  up: ChunkUpload,
  opts: { maxBytes: number; inits: InitCache; gapWaitMs?: number },
): Promise<ChunkResult> {
  const seq = Number(up.seq);
  if (!/^\d{1,7}$/.test(up.seq) || seq > MAX_SEQ) throw new AppError("bad_request", `seq must be an integer from 0 to ${MAX_SEQ}`);
  // The stream, the retry check and the neighbours in one read (writableStream's rules applied
  // to its row): the hot path of every phone, four times a second.
  const found = isUuid(up.streamId) ? await repo.streamWithPartContext(db, up.streamId, seq, KEY_LOOKBACK) : undefined;
  if (!found) throw new AppError("not_found", "no such stream");
  assertCanView(user, found.stream);
  assertCanWrite(user, found.stream);
  const stream = await reopenIfIdle(db, store, found.stream);
  if (stream.state !== "live") throw new AppError("conflict", `stream is ${stream.state}; it takes no more uploads`);
  if (stream.media_format === "classic") throw classicStream();
  const captureStart = up.chunkStart === null ? null : parseCaptureTime(up.chunkStart, "X-Chunk-Start");
  const init = await opts.inits.get(db, stream.id);
  if (!init) throw new AppError("conflict", "send the init segment first: PUT /api/v1/streams/{id}/init (video/mp4)");
  const bytes = await readBody(up.body, up.contentLength, opts.maxBytes, "chunk");
  const hash = sha256(bytes);
  const near = found;
  if (near.existingSha256 !== null) return settleDuplicate(near.existingSha256, hash, seq);

  const parsed = parseFragments(bytes, init);
  if (!parsed.ok) throw refuse(`seq ${seq} is not a valid CMAF chunk`, parsed);
  const part = describe(seq, parsed.tracks, init.tracks);
  checkContinuity(seq, part.media, near, init.tracks);
  checkKeyFrames(seq, part, near, init.tracks);

  const key = `streams/${stream.id}/parts/${seq}/${crypto.randomUUID()}.m4s`;
  const put = await store.put(key, bytes, { contentType: CMAF_SEGMENT_TYPE, maxBytes: opts.maxBytes });
  let stored;
  try {
    stored = await repo.storePart(db, {
      part: {
        stream_id: stream.id,
        seq,
        object_key: key,
        sha256: put.sha256,
        size: put.size,
        content_type: CMAF_SEGMENT_TYPE,
        capture_start: captureStart,
        uploaded_by: user.id,
        media: part.media,
        duration: part.duration,
        independent: part.independent,
      },
      gapWaitMs: opts.gapWaitMs ?? GAP_WAIT_MS,
      audit: auditRow({
        action: "chunk.stored",
        targetType: "stream",
        targetId: stream.id,
        detail: { seq, sha256: put.sha256, size: put.size, format: "cmaf" },
      }),
      // The console's grid attaches a player on its first segment.created; one per independent
      // part (about one a second) is enough for that, not one per part.
      event: part.independent ? { type: "segment.created", ownerId: stream.owner_id } : null,
      // The grid's still: a low-priority job every few seconds at most, from the newest key frame.
      posterJob: part.independent && posterDue(stream) ? posterJob(stream.id) : null,
    });
  } catch (e) {
    await store.delete(key).catch(() => {});
    throw e;
  }
  if (stored) return { status: 201, seq, sha256: put.sha256 };
  // Another upload of this seq won the race: keep theirs, answer as a retry would be.
  await store.delete(key).catch(() => {});
  const winner = await findChunk(db, stream.id, seq);
  return settleDuplicate(winner!.sha256, put.sha256, seq);
}

const INIT_CACHE_MAX = 2_000;

/**
 * A stream's init never changes once stored (first writer wins, a different one is a 409), so a
 * node keeps the parsed tracks of the streams it has seen instead of reading them per part. One
 * per node, on its API context (core/runtime.ts).
 */
export class InitCache {
  private readonly inits = new Map<string, { sha256: string; tracks: InitTrack[] }>();

  async get(db: Kysely<DB>, streamId: string) {
    const hit = this.inits.get(streamId);
    if (hit) return hit;
    const found = await repo.findInitTracks(db, streamId);
    if (found) {
      if (this.inits.size >= INIT_CACHE_MAX) this.inits.delete(this.inits.keys().next().value!);
      this.inits.set(streamId, found);
    }
    return found;
  }
}

function settleDuplicate(stored: string, sent: string, seq: number): ChunkResult {
  if (stored !== sent) throw new AppError("conflict", `different bytes are already stored for seq ${seq}`, { detail: { stored_sha256: stored } });
  return { status: 200, seq, sha256: stored };
}

interface PartFacts {
  media: CmafChunkMedia;
  duration: number;
  independent: boolean;
  /** Decode time of the video track's first key frame in this chunk (null: none, or no video). */
  firstKey: number | null;
}

function unprocessable(message: string, detail: Record<string, unknown> = {}): AppError {
  return new AppError("unprocessable", message, { detail });
}

/** What the playlist and the neighbours' checks need, and the per-chunk limits of the contract. */
function describe(seq: number, runs: TrackRun[], tracks: readonly InitTrack[]): PartFacts {
  const video = tracks.find((t) => t.kind === "video");
  const byId = new Map(runs.map((r) => [r.id, r]));
  if (video && !byId.get(video.id)?.sampleCount) throw unprocessable(`seq ${seq} has no samples of video track ${video.id}`, { fault: "no_video" });
  let longest = 0;
  for (const r of runs) {
    const t = tracks.find((x) => x.id === r.id)!;
    const sec = r.duration / t.timescale;
    if (sec > MAX_PART_SEC + PART_SLACK_SEC)
      throw unprocessable(`seq ${seq}: track ${r.id} carries ${sec.toFixed(3)} s; a chunk carries at most ${MAX_PART_SEC} s`, {
        fault: "duration",
        track: r.id,
        seconds: sec,
      });
    longest = Math.max(longest, sec);
  }
  const main = video ? byId.get(video.id)! : null;
  const duration = main ? main.duration / video!.timescale : longest;
  if (!(duration > 0)) throw unprocessable(`seq ${seq} carries no media time`, { fault: "duration", seconds: duration });
  const independent = tracks.filter((t) => t.kind === "video").every((t) => byId.get(t.id)?.firstSampleIsKey ?? false);
  if (seq === 0 && !independent) throw unprocessable("seq 0 must start with a key frame", { fault: "key_frame" });
  return {
    media: {
      tracks: runs.map((r) => ({
        id: r.id,
        start: r.baseDecodeTime,
        end: r.baseDecodeTime + r.duration,
        ...(r.lastKeyTime !== null && tracks.find((t) => t.id === r.id)?.kind === "video" ? { key: r.lastKeyTime } : {}),
      })),
    },
    duration,
    independent,
    firstKey: main?.firstKeyTime ?? null,
  };
}

/** Decode time continues from seq-1 and into seq+1 on every track both carry (within 1 ms). */
function checkContinuity(
  seq: number,
  media: CmafChunkMedia,
  near: { before: repo.NeighbourPart[]; after: repo.NeighbourPart | null },
  tracks: readonly InitTrack[],
) {
  const prev = near.before[0]?.seq === seq - 1 ? near.before[0] : null;
  for (const t of media.tracks) {
    const tol = continuityTolerance(tracks.find((x) => x.id === t.id)!.timescale);
    const p = prev?.media.tracks.find((x) => x.id === t.id);
    if (p && Math.abs(t.start - p.end) > tol)
      throw unprocessable(`track ${t.id}: seq ${seq} starts at decode time ${t.start}, seq ${seq - 1} ends at ${p.end}`, {
        fault: "decode_time",
        track: t.id,
        expected: p.end,
        got: t.start,
      });
    const n = near.after?.media.tracks.find((x) => x.id === t.id);
    if (n && Math.abs(n.start - t.end) > tol)
      throw unprocessable(`track ${t.id}: seq ${seq} ends at decode time ${t.end}, seq ${seq + 1} starts at ${n.start}`, {
        fault: "decode_time",
        track: t.id,
        expected: n.start,
        got: t.end,
      });
  }
}

/**
 * A key frame at least every MAX_KEY_INTERVAL_SEC of media, checked backwards only: from the last
 * key frame among the parts before (as far as they are contiguous and within KEY_LOOKBACK) to
 * this chunk's first key frame, or its end when it has none. A part that arrives before the ones
 * it follows is checked when they come — they look back at it.
 */
function checkKeyFrames(seq: number, part: PartFacts, near: { before: repo.NeighbourPart[] }, tracks: readonly InitTrack[]) {
  const video = tracks.find((t) => t.kind === "video");
  if (!video || part.independent) return;
  const mine = part.media.tracks.find((t) => t.id === video.id)!;
  const until = part.firstKey ?? mine.end;
  let expect = seq - 1;
  let earliest: number | null = null;
  for (const p of near.before) {
    if (p.seq !== expect) break;
    const t = p.media.tracks.find((x) => x.id === video.id);
    if (!t) break;
    if (t.key !== undefined) {
      const gap = (until - t.key) / video.timescale;
      if (gap > MAX_KEY_INTERVAL_SEC + PART_SLACK_SEC) throw keyGap(seq, gap);
      return;
    }
    earliest = t.start;
    expect--;
  }
  if (earliest !== null && (until - earliest) / video.timescale > MAX_KEY_INTERVAL_SEC + PART_SLACK_SEC)
    throw keyGap(seq, (until - earliest) / video.timescale);
}

function keyGap(seq: number, sec: number): AppError {
  return unprocessable(`seq ${seq}: no key frame for ${sec.toFixed(3)} s of video; one is due at least every ${MAX_KEY_INTERVAL_SEC} s`, {
    fault: "key_frame",
    seconds: sec,
  });
}
