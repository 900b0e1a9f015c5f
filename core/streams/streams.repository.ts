import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";
import { eventWrite } from "../events/events.repository.ts";
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

/** The columns every chunk row is written with, classic or CMAF. */
export interface ChunkRowWrite {
  stream_id: string;
  seq: number;
  object_key: string;
  sha256: string;
  size: number;
  content_type: string;
  capture_start: Date | null;
  uploaded_by: string;
}

/** Returns nothing when a chunk for (stream, seq) is already recorded: first writer wins. */
export function insertChunk(db: Db, c: ChunkRowWrite) {
  return db
    .insertInto("chunks")
    .values(c)
    .onConflict((oc) => oc.columns(["stream_id", "seq"]).doNothing())
    .returning("seq")
    .executeTakeFirst();
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
  const r = await db
    .selectFrom("chunks")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("stream_id", "=", streamId)
    .where("state", "=", "stored")
    .executeTakeFirstOrThrow();
  return Number(r.n) === 0;
}

export function insertTelemetry(
  db: Db,
  rows: { stream_id: string; t: Date; lat: number; lng: number; accuracy: number | null; heading: number | null; speed: number | null }[],
) {
  return db
    .insertInto("telemetry")
    .values(rows)
    .onConflict((oc) => oc.columns(["stream_id", "t"]).doNothing())
    .returning("t")
    .execute();
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
  return enqueue(
    db,
    "make_poster",
    { streamId },
    { jobKey: `poster:${streamId}`, jobKeyMode: "preserve_run_at", runAt: new Date(Date.now() + POSTER_INTERVAL_MS) },
  );
}

/** Marks a live stream finished by its reporter; undefined when it was not live. */
export function finishLiveStream(db: Db, id: string) {
  return db
    .updateTable("streams")
    .set({ state: "finished", finished_at: new Date(), finished_by: "reporter" })
    .where("id", "=", id)
    .where("state", "=", "live")
    .returning("id")
    .executeTakeFirst();
}

/**
 * Finishes up to `limit` live streams silent for `idleMs` (silence counts from the newest chunk
 * received, else from the stream's creation), marked finished_by 'idle'. Rows another
 * transaction holds are skipped, not waited for.
 */
export async function finishSilentStreams(db: Db, idleMs: number, limit: number) {
  const { rows } = await sql<{ id: string; owner_id: string; last: Date }>`
    update streams s set state = 'finished', finished_at = now(), finished_by = 'idle'
    from (
      select st.id, greatest(st.created_at, (select max(c.received_at) from chunks c where c.stream_id = st.id)) as last
      from streams st
      where st.state = 'live'
        and greatest(st.created_at, (select max(c.received_at) from chunks c where c.stream_id = st.id)) < now() - make_interval(secs => ${idleMs / 1000}::float8)
      order by st.created_at
      limit ${limit}
      for update of st skip locked
    ) quiet
    where s.id = quiet.id
    returning s.id, s.owner_id, quiet.last`.execute(db);
  return rows;
}

/** An idle-finished stream goes live again, its recording forgotten; undefined when it was not idle-finished. */
export function reopenIdleStream(db: Db, id: string) {
  return db
    .updateTable("streams")
    .set({ state: "live", finished_at: null, finished_by: null, recording_key: null, recording_sha256: null, recording_size: null, recording_at: null })
    .where("id", "=", id)
    .where("state", "=", "finished")
    .where("finished_by", "=", "idle")
    .returning("id")
    .executeTakeFirst();
}

export function findPoster(db: Db, streamId: string) {
  return db.selectFrom("streams").select(["poster_key", "poster_at"]).where("id", "=", streamId).executeTakeFirst();
}

/**
 * Points the stream at its new poster and announces it (`poster.updated`, `data`) in one
 * statement. Returns the key it replaced (null: none), or undefined when the stream is gone. The
 * row lock taken first orders concurrent posters of one stream: each replaced key is returned to
 * exactly one of them, so none is left behind.
 */
export async function replacePoster(db: Db, streamId: string, key: string, data: Record<string, unknown>, channel: string) {
  const ev = eventWrite("ev", sql`select 'poster.updated', ${streamId}::uuid, upd.owner_id, ${JSON.stringify(data)}::jsonb from upd`, channel);
  const { rows } = await sql<{ old_key: string | null }>`
    with old as (select id, poster_key from streams where id = ${streamId} for update),
    upd as (update streams s set poster_key = ${key}, poster_at = ${new Date()} from old where s.id = old.id returning s.owner_id),
    ${ev.cte}
    select old.poster_key as old_key, ${ev.notified} as evented from old`.execute(db);
  return rows[0] && { oldKey: rows[0].old_key };
}

/** The newest segment of the live playlist (late ones not counted). */
export function newestLiveSegment(db: Db, streamId: string) {
  return db
    .selectFrom("segments")
    .select(["seq", "object_key"])
    .where("stream_id", "=", streamId)
    .where("late", "=", false)
    .orderBy("seq", "desc")
    .limit(1)
    .executeTakeFirst();
}

/** Records the stream's recording unless it has one (first writer wins); undefined when it had. */
export function setRecording(db: Db, streamId: string, r: { key: string; sha256: string; size: number }) {
  return db
    .updateTable("streams")
    .set({ recording_key: r.key, recording_sha256: r.sha256, recording_size: String(r.size), recording_at: sql`now()` })
    .where("id", "=", streamId)
    .where("recording_key", "is", null)
    .returning("owner_id")
    .executeTakeFirst();
}

/** The database clock (ms since the epoch): what nodes agree on, unlike their own clocks. */
export async function databaseNowMs(db: Db): Promise<number> {
  const r = await db.selectNoFrom((eb) => eb.fn<Date>("now", []).as("now")).executeTakeFirstOrThrow();
  return new Date(r.now).getTime();
}
