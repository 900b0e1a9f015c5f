import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";
import { enqueue } from "../queue/enqueue.ts";

/** Thin queries over streams, chunks, segments and telemetry: `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

export function insertStream(db: Db, s: { owner_id: string; title: string; lat: number | null; lng: number | null; heading: number | null; tags: string[] }) {
  return db.insertInto("streams").values(s).returning("id").executeTakeFirstOrThrow();
}

export function findStream(db: Db, id: string) {
  return db
    .selectFrom("streams")
    .innerJoin("users", "users.id", "streams.owner_id")
    .selectAll("streams")
    .select("users.email as owner_email")
    .where("streams.id", "=", id)
    .executeTakeFirst();
}
export type StreamRow = NonNullable<Awaited<ReturnType<typeof findStream>>>;

/** Row lock on the stream (inside the caller's transaction): serialises writers of things it owns. */
export async function lockStream(trx: Transaction<DB>, id: string): Promise<void> {
  await trx.selectFrom("streams").select("id").where("id", "=", id).forUpdate().executeTakeFirst();
}

export async function streamCounts(db: Db, id: string) {
  const [c, s, failed] = await Promise.all([
    // CMAF parts (state 'listed') have no segment rows: a live part starting with a key frame
    // counts as a segment, so the console knows there is something to play.
    db
      .selectFrom("chunks")
      .select([
        (eb) => eb.fn.countAll<string>().as("n"),
        sql<string>`count(*) filter (where state = 'listed' and independent and not late)`.as("parts"),
        sql<number | null>`sum(duration) filter (where state = 'listed' and not late)`.as("parts_duration"),
      ])
      .where("stream_id", "=", id)
      .executeTakeFirstOrThrow(),
    db
      .selectFrom("segments")
      .select((eb) => [eb.fn.countAll<string>().as("n"), eb.fn.coalesce(eb.fn.sum<number>("duration"), sql<number>`0`).as("duration")])
      .where("stream_id", "=", id)
      .executeTakeFirstOrThrow(),
    db.selectFrom("chunks").select(["seq", "failure_reason"]).where("stream_id", "=", id).where("state", "=", "failed").orderBy("seq").limit(100).execute(),
  ]);
  return { chunks: Number(c.n), segments: Number(s.n) + Number(c.parts), duration: Number(s.duration) + Number(c.parts_duration ?? 0), failed };
}

export function listStreams(db: Db, opts: { ownerId?: string; state?: "live" | "finished" | "failed"; limit: number }) {
  let q = db.selectFrom("streams").innerJoin("users", "users.id", "streams.owner_id").selectAll("streams").select("users.email as owner_email");
  if (opts.ownerId) q = q.where("streams.owner_id", "=", opts.ownerId);
  if (opts.state) q = q.where("streams.state", "=", opts.state);
  return q.orderBy("streams.created_at", "desc").limit(opts.limit).execute();
}

export function findChunk(db: Db, streamId: string, seq: number) {
  return db.selectFrom("chunks").selectAll().where("stream_id", "=", streamId).where("seq", "=", seq).executeTakeFirst();
}

/** Returns nothing when a chunk for (stream, seq) is already recorded: first writer wins. */
export function insertChunk(db: Db, c: { stream_id: string; seq: number; object_key: string; sha256: string; size: number; content_type: string; capture_start: Date | null; uploaded_by: string }) {
  return db.insertInto("chunks").values(c).onConflict((oc) => oc.columns(["stream_id", "seq"]).doNothing()).returning("seq").executeTakeFirst();
}

/**
 * Segment jobs of one stream share a graphile-worker queue, so they run one at a time in order
 * while other streams run in parallel; the job key makes a re-enqueue replace, not duplicate.
 */
export function addSegmentJob(db: Db, streamId: string, seq: number, runAt?: Date) {
  // Five tries: a chunk that still cannot be segmented is marked failed on the last one.
  return enqueue(db, "segment_chunk", { streamId, seq }, { queueName: `stream:${streamId}`, jobKey: `segment:${streamId}:${seq}`, runAt, maxAttempts: 5 });
}

/**
 * A chunk the live edge skipped (or that waits behind it): batch priority, in a queue of the
 * stream's own beside the live one, ordered by `runAt` (its arrival) so the backlog is made in
 * seq order. Same job key as the live job, so moving a chunk here replaces its pending live job.
 */
export function addLateSegmentJob(db: Db, streamId: string, seq: number, runAt?: Date) {
  return enqueue(db, "segment_late", { streamId, seq }, { queueName: `stream:${streamId}:late`, jobKey: `segment:${streamId}:${seq}`, runAt, maxAttempts: 5 });
}

export function listSegments(db: Db, streamId: string, opts: { includeLate: boolean }) {
  let q = db.selectFrom("segments").selectAll().where("stream_id", "=", streamId);
  if (!opts.includeLate) q = q.where("late", "=", false);
  return q.orderBy("seq").execute();
}

export function findSegment(db: Db, streamId: string, seq: number) {
  return db.selectFrom("segments").selectAll().where("stream_id", "=", streamId).where("seq", "=", seq).executeTakeFirst();
}

/** True when every recorded chunk has been segmented or has failed. */
export async function allChunksSettled(db: Db, streamId: string): Promise<boolean> {
  const r = await db.selectFrom("chunks").select((eb) => eb.fn.countAll<string>().as("n")).where("stream_id", "=", streamId).where("state", "=", "stored").executeTakeFirstOrThrow();
  return Number(r.n) === 0;
}

export function insertTelemetry(db: Db, rows: { stream_id: string; t: Date; lat: number; lng: number; accuracy: number | null; heading: number | null; speed: number | null }[]) {
  return db.insertInto("telemetry").values(rows).onConflict((oc) => oc.columns(["stream_id", "t"]).doNothing()).returning("t").execute();
}

export function listTelemetry(db: Db, streamId: string, limit: number) {
  return db.selectFrom("telemetry").selectAll().where("stream_id", "=", streamId).orderBy("t").limit(limit).execute();
}

/** Batch work, after live work: a lower priority, keyed so a second finish does not queue twice. */
export function addRecordingJob(db: Db, streamId: string, runAt?: Date) {
  return enqueue(db, "assemble_recording", { streamId }, { jobKey: `recording:${streamId}`, runAt });
}

/** A poster every few seconds is plenty for a grid tile, and one ffmpeg run per segment would double the worker's CPU. */
export const POSTER_INTERVAL_MS = 3_000;

/**
 * The poster follows the newest segment. preserve_run_at: the first segment of a quiet spell
 * schedules it POSTER_INTERVAL_MS ahead and later ones join that job instead of postponing it.
 */
export function addPosterJob(db: Db, streamId: string) {
  return enqueue(db, "make_poster", { streamId }, { jobKey: `poster:${streamId}`, jobKeyMode: "preserve_run_at", runAt: new Date(Date.now() + POSTER_INTERVAL_MS) });
}
