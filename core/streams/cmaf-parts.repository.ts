import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";
import type { EnqueueOptions } from "../queue/enqueue.ts";
import type { LlPart } from "./ll-hls.ts";
import { POSTER_INTERVAL_MS } from "./streams.repository.ts";

/** Thin queries over a CMAF stream's init and parts (chunks in state 'listed'): `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

/**
 * The stream's parts from seq `fromSeq` on (all by default), in seq order, late ones too, with
 * the stream's state and the database clock: one round trip, since a blocked playlist request
 * runs this at every part.
 */
export async function listParts(db: Db, streamId: string, fromSeq = 0): Promise<{ parts: LlPart[]; nowMs: number; state: string | null }> {
  const { rows } = await sql<{
    state: string;
    now: Date;
    seq: number | null;
    duration: number | null;
    independent: boolean | null;
    capture_start: Date | null;
    received_at: Date | null;
    late: boolean | null;
  }>`
    select s.state, now() as now, c.seq, c.duration, c.independent, c.capture_start, c.received_at, c.late
    from streams s
    left join chunks c on c.stream_id = s.id and c.state = 'listed' and c.seq >= ${fromSeq}
    where s.id = ${streamId}
    order by c.seq`.execute(db);
  const head = rows[0];
  return {
    parts: rows
      .filter((r) => r.seq !== null)
      .map((r) => ({
        seq: r.seq!,
        duration: r.duration ?? 0,
        independent: r.independent ?? false,
        captureStart: r.capture_start ? new Date(r.capture_start) : null,
        receivedAt: new Date(r.received_at!),
        late: r.late ?? false,
      })),
    nowMs: head ? new Date(head.now).getTime() : Date.now(),
    state: head?.state ?? null,
  };
}

export function findInit(db: Db, streamId: string) {
  return db.selectFrom("stream_inits").select(["object_key", "sha256", "size", "content_type"]).where("stream_id", "=", streamId).executeTakeFirst();
}

export function findPart(db: Db, streamId: string, seq: number) {
  return db
    .selectFrom("chunks")
    .select(["seq", "object_key", "sha256", "size", "late"])
    .where("stream_id", "=", streamId)
    .where("seq", "=", seq)
    .where("state", "=", "listed")
    .executeTakeFirst();
}

/** The listed parts first..last, in order (fewer rows than seqs when some are missing). */
export function partRange(db: Db, streamId: string, first: number, last: number) {
  return db
    .selectFrom("chunks")
    .select(["seq", "object_key", "sha256", "size"])
    .where("stream_id", "=", streamId)
    .where("state", "=", "listed")
    .where("seq", ">=", first)
    .where("seq", "<=", last)
    .orderBy("seq")
    .execute();
}

/** The highest listed seq, or -1. */
export async function maxPartSeq(db: Db, streamId: string): Promise<number> {
  const r = await db
    .selectFrom("chunks")
    .select((eb) => eb.fn.max("seq").as("m"))
    .where("stream_id", "=", streamId)
    .where("state", "=", "listed")
    .executeTakeFirst();
  return r?.m === null || r?.m === undefined ? -1 : Number(r.m);
}

/** Every part with its object, in seq order, late ones included: the recording's input. */
export function allPartObjects(db: Db, streamId: string) {
  return db
    .selectFrom("chunks")
    .select(["seq", "object_key", "duration", "size"])
    .where("stream_id", "=", streamId)
    .where("state", "=", "listed")
    .orderBy("seq")
    .execute();
}

/** The newest independent, non-late part: where a poster's key frame is. */
export function newestIndependentPart(db: Db, streamId: string) {
  return db
    .selectFrom("chunks")
    .select(["seq", "object_key"])
    .where("stream_id", "=", streamId)
    .where("state", "=", "listed")
    .where("independent", "=", true)
    .where("late", "=", false)
    .orderBy("seq", "desc")
    .limit(1)
    .executeTakeFirst();
}

/**
 * A CMAF stream's poster: a batch job (an ffmpeg run must never delay live work), at most one per
 * POSTER_INTERVAL_MS per stream — preserve_run_at makes later key frames join the pending job.
 */
export function posterJob(streamId: string): { payload: { streamId: string }; opts: EnqueueOptions } {
  return {
    payload: { streamId },
    opts: { jobKey: `part-poster:${streamId}`, jobKeyMode: "preserve_run_at", runAt: new Date(Date.now() + POSTER_INTERVAL_MS) },
  };
}

/** Whether a newly listed key frame should ask for a poster: none yet, or the last is older than the interval. */
export function posterDue(stream: { poster_at: Date | string | null }, nowMs = Date.now()): boolean {
  return stream.poster_at === null || nowMs - new Date(stream.poster_at).getTime() >= POSTER_INTERVAL_MS;
}
