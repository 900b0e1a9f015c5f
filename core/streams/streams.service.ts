import type { Kysely } from "kysely";
import type { AuthUser } from "../auth/auth.service.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { publish } from "../events/events.service.ts";
import { assertCanCreate, assertCanView, assertCanWrite } from "./access.ts";
import * as repo from "./streams.repository.ts";
import type { StreamRow } from "./streams.repository.ts";
import { isUuid } from "../ids.ts";

export interface CreateStreamInput {
  title?: string;
  lat?: number;
  lng?: number;
  heading?: number;
  tags?: string[];
}

export async function createStream(db: Kysely<DB>, user: AuthUser, input: CreateStreamInput): Promise<string> {
  assertCanCreate(user);
  if ((input.lat === undefined) !== (input.lng === undefined)) throw new AppError("bad_request", "lat and lng go together");
  const tags = [...new Set((input.tags ?? []).map((t) => t.trim()).filter(Boolean))];
  const row = { owner_id: user.id, title: (input.title ?? "").trim(), lat: input.lat ?? null, lng: input.lng ?? null, heading: input.heading ?? null, tags };
  return db.transaction().execute(async (trx) => {
    const { id } = await repo.insertStream(trx, row);
    await publish(trx, {
      type: "stream.created",
      streamId: id,
      ownerId: user.id,
      data: { title: row.title, lat: row.lat, lng: row.lng, heading: row.heading, tags, owner: user.email },
    });
    return id;
  });
}

/** The stream if this user may see it; 404 otherwise (also for malformed ids). */
export async function visibleStream(db: Kysely<DB>, user: AuthUser, id: string): Promise<StreamRow> {
  const s = isUuid(id) ? await repo.findStream(db, id) : undefined;
  if (!s) throw new AppError("not_found", "no such stream");
  assertCanView(user, s);
  return s;
}

export async function writableStream(db: Kysely<DB>, user: AuthUser, id: string): Promise<StreamRow> {
  const s = await visibleStream(db, user, id);
  assertCanWrite(user, s);
  return s;
}

export async function streamView(db: Kysely<DB>, s: StreamRow) {
  const counts = await repo.streamCounts(db, s.id);
  // Origin-relative: right behind any load balancer or public URL.
  const base = `/api/v1/streams/${s.id}`;
  return {
    id: s.id,
    state: s.state,
    title: s.title,
    owner: { id: s.owner_id, email: s.owner_email },
    lat: s.lat,
    lng: s.lng,
    heading: s.heading,
    tags: s.tags,
    created_at: new Date(s.created_at).toISOString(),
    finished_at: s.finished_at ? new Date(s.finished_at).toISOString() : null,
    chunks: counts.chunks,
    segments: counts.segments,
    failed_chunks: counts.failed.map((f) => ({ seq: f.seq, reason: f.failure_reason ?? "failed" })),
    duration: Math.round(counts.duration * 1000) / 1000,
    playlist_url: `${base}/hls/index.m3u8`,
    poster_url: s.poster_key ? `${base}/poster.jpg` : null,
    recording: s.recording_key && s.recording_sha256 ? { url: `${base}/recording.mp4`, sha256: s.recording_sha256, size: Number(s.recording_size) } : null,
    format: s.media_format,
  };
}

/** Idempotent: finishing twice is fine. Queues the recording, which waits for the last segment. */
export async function finishStream(db: Kysely<DB>, user: AuthUser, id: string): Promise<StreamRow> {
  const s = await writableStream(db, user, id);
  if (s.state === "live") {
    await db.transaction().execute(async (trx) => {
      const updated = await repo.finishLiveStream(trx, id);
      if (updated) {
        await repo.addRecordingJob(trx, id);
        await publish(trx, { type: "stream.finished", streamId: id, ownerId: s.owner_id, data: {} });
      }
    });
  }
  return (await repo.findStream(db, id))!;
}

/** RFC 3339 or ms since the epoch; anything outside 2000..tomorrow is a client bug, not a time. */
export function parseCaptureTime(v: string | number, what: string): Date {
  const d =
    typeof v === "number" || /^\d{1,15}$/.test(v)
      ? new Date(Number(v))
      : /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v)
        ? new Date(v)
        : new Date(NaN);
  const ms = d.getTime();
  if (!Number.isFinite(ms) || ms < Date.UTC(2000, 0, 1) || ms > Date.now() + 86_400_000)
    throw new AppError("bad_request", `${what} must be an RFC 3339 time or ms since the epoch, between 2000 and now`);
  return d;
}

export async function addTelemetry(
  db: Kysely<DB>,
  user: AuthUser,
  id: string,
  samples: { t: string | number; lat: number; lng: number; accuracy?: number; heading?: number; speed?: number }[],
) {
  const stream = await writableStream(db, user, id);
  const rows = new Map<number, Parameters<typeof repo.insertTelemetry>[1][number]>();
  samples.forEach((s, i) => {
    const t = parseCaptureTime(s.t, `samples[${i}].t`);
    rows.set(t.getTime(), { stream_id: id, t, lat: s.lat, lng: s.lng, accuracy: s.accuracy ?? null, heading: s.heading ?? null, speed: s.speed ?? null });
  });
  const inserted = await db.transaction().execute(async (trx) => {
    const ins = await repo.insertTelemetry(trx, [...rows.values()]);
    const newest = [...rows.values()].sort((a, b) => b.t.getTime() - a.t.getTime())[0]!;
    if (ins.length)
      await publish(trx, {
        type: "telemetry",
        streamId: id,
        ownerId: stream.owner_id,
        data: { t: newest.t.toISOString(), lat: newest.lat, lng: newest.lng, heading: newest.heading, accuracy: newest.accuracy, samples: ins.length },
      });
    return ins;
  });
  return { accepted: inserted.length, duplicates: samples.length - inserted.length };
}
