import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";
import type { AuditInsert } from "../audit/audit.repository.ts";
import { eventWrite } from "../events/events.repository.ts";
import { EVENTS_CHANNEL } from "../events/events.service.ts";
import type { InitTrack } from "../media/fmp4.ts";
import { addJobCall, type EnqueueOptions } from "../queue/enqueue.ts";
import { PARTS_CHANNEL, type CmafChunkMedia } from "./cmaf.model.ts";
import type { ChunkRowWrite } from "./streams.repository.ts";

/** Thin queries of CMAF ingest (init segments, parts, the stream's format): `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

/**
 * Fixes the stream's media format unless another is already fixed; false when it is. Callers
 * skip it once the row says their format, so only the first uploads take the row lock.
 */
export async function claimFormat(db: Db, streamId: string, format: "classic" | "cmaf"): Promise<boolean> {
  const r = await db
    .updateTable("streams")
    .set({ media_format: format })
    .where("id", "=", streamId)
    .where((eb) => eb.or([eb("media_format", "is", null), eb("media_format", "=", format)]))
    .returning("id")
    .executeTakeFirst();
  return r !== undefined;
}

/** The stored init with its tracks (InitTrack: CmafTrack plus the trex defaults fragments need). */
export async function findInitTracks(db: Db, streamId: string) {
  const r = await db.selectFrom("stream_inits").select(["sha256", "tracks"]).where("stream_id", "=", streamId).executeTakeFirst();
  return r && { sha256: r.sha256, tracks: r.tracks as unknown as InitTrack[] };
}

/** Returns nothing when the stream already has an init: first writer wins. */
export function insertInit(
  db: Db,
  i: { stream_id: string; object_key: string; sha256: string; size: number; content_type: string; tracks: InitTrack[]; uploaded_by: string },
) {
  return db
    .insertInto("stream_inits")
    .values({ ...i, tracks: JSON.stringify(i.tracks) })
    .onConflict((oc) => oc.column("stream_id").doNothing())
    .returning("stream_id")
    .executeTakeFirst();
}

export interface NeighbourPart {
  seq: number;
  media: CmafChunkMedia;
}

/**
 * Everything a new part is checked against, in one round trip: the stream with its owner's email
 * (streams.repository.ts findStream's row), the sha256 already stored for the seq (a retry), and
 * the neighbouring parts (up to `back` seqs before, newest first, and the one after).
 */
export async function streamWithPartContext(db: Db, streamId: string, seq: number, back: number) {
  const row = await db
    .selectFrom("streams")
    .innerJoin("users", "users.id", "streams.owner_id")
    .selectAll("streams")
    .select("users.email as owner_email")
    .select(sql<string | null>`(select c.sha256 from chunks c where c.stream_id = streams.id and c.seq = ${seq})`.as("part_existing_sha256"))
    .select(
      sql<
        { seq: number; media: CmafChunkMedia }[]
      >`(select coalesce(jsonb_agg(jsonb_build_object('seq', c.seq, 'media', c.media) order by c.seq desc), '[]'::jsonb)
        from chunks c
        where c.stream_id = streams.id and c.seq between ${seq - back} and ${seq + 1} and c.seq <> ${seq} and c.media is not null)`.as("part_near"),
    )
    .where("streams.id", "=", streamId)
    .executeTakeFirst();
  if (!row) return undefined;
  const { part_existing_sha256, part_near, ...stream } = row;
  const parts: NeighbourPart[] = part_near.map((p) => ({ seq: Number(p.seq), media: p.media }));
  return { stream, existingSha256: part_existing_sha256, before: parts.filter((p) => p.seq < seq), after: parts.find((p) => p.seq === seq + 1) ?? null };
}

export interface PartWrite {
  part: ChunkRowWrite & { media: CmafChunkMedia; duration: number; independent: boolean };
  /** The gap rule's wait (cmaf-gaps.ts isLate), decided here by the database clock at the insert. */
  gapWaitMs: number;
  audit: AuditInsert;
  /** segment.created for the console's grid, sent when the part is independent and not late. */
  event: { ownerId: string; type: "segment.created" } | null;
  /** A poster job, enqueued when the part is independent and not late. */
  posterJob: { payload: unknown; opts: EnqueueOptions } | null;
}

/**
 * Stores a part and everything that goes with it in ONE statement (so one implicit transaction and
 * one round trip): the row (first writer wins), its audit entry, the grid's event, the poster job
 * and the wake-up of blocked playlist reloads. The audit chain's trigger holds a global lock from
 * the audit insert to the commit (migration 0009); inside one statement that is server time only,
 * where a client-driven transaction held it across several round trips and serialised every
 * upload of every stream behind the slowest event loop.
 *
 * `late` is isLate() of cmaf-gaps.ts in SQL: the next non-late part's receive time plus the gap
 * wait is past, by the clock of the insert. Returns null when the seq was already stored.
 */
export async function storePart(db: Db, w: PartWrite): Promise<{ late: boolean } | null> {
  const p = w.part;
  const a = w.audit;
  // The grid's event, written by the events module's own definition (publish() runs the same).
  const ev = eventWrite(
    "ev",
    sql`select ${w.event?.type ?? "segment.created"}, ${p.stream_id}::uuid, ${w.event?.ownerId ?? null}::uuid,
             jsonb_build_object('seq', ins.seq, 'duration', ${p.duration}::float8, 'late', false, 'discontinuity', false, 'part', true)
        from ins
        where ${w.event !== null} and not ins.late`,
    EVENTS_CHANNEL,
  );
  const { rows } = await sql<{ late: boolean }>`
    with nxt as (
      select (select received_at from chunks where stream_id = ${p.stream_id} and seq > ${p.seq} and not late order by seq limit 1) as next_at
    ), ins as (
      insert into chunks (stream_id, seq, object_key, sha256, size, content_type, capture_start, uploaded_by, media, duration, independent, late, state)
      select ${p.stream_id}, ${p.seq}, ${p.object_key}, ${p.sha256}, ${p.size}, ${p.content_type}, ${p.capture_start}::timestamptz, ${p.uploaded_by}::uuid,
             ${JSON.stringify(p.media)}::jsonb, ${p.duration}::float8, ${p.independent},
             coalesce(now() > nxt.next_at + make_interval(secs => ${w.gapWaitMs / 1000}::float8), false), 'listed'
      from nxt
      on conflict (stream_id, seq) do nothing
      returning seq, late
    ), aud as (
      insert into audit_log (action, target_type, target_id, detail, actor_id, actor_email, actor_role, token_id, ip, user_agent, request_id)
      select ${a.action}, ${a.target_type}, ${a.target_id}, ${a.detail}::jsonb, ${a.actor_id}::uuid, ${a.actor_email}, ${a.actor_role}, ${a.token_id}::uuid, ${a.ip}, ${a.user_agent}, ${a.request_id}
      from ins
      returning 1
    ), ${ev.cte}
    select ins.late,
           (select count(*) from aud) as audited,
           ${ev.notified} as evented,
           ${w.posterJob ? sql`(select count(${addJobCall("make_part_poster", w.posterJob.payload, w.posterJob.opts)}) from ins i where not i.late)` : sql`0`} as jobs,
           pg_notify(${PARTS_CHANNEL}, ${p.stream_id})
    from ins`.execute(db);
  return rows[0] ? { late: rows[0].late } : null;
}
