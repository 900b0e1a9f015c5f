import { sql, type Kysely, type RawBuilder, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries for the incident timeline: `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

export interface LaneFilter {
  from: Date;
  to: Date;
  tagId?: string;
  ownerId?: string;
  /** Keyset: streams created after (createdUs, id). */
  after?: { createdUs: string; id: string };
  limit: number;
}

/** Streams that overlap the window (a live one reaches now), oldest first, with their item and tags. */
export async function lanes(db: Db, f: LaneFilter) {
  const { rows } = await sql<{
    id: string;
    title: string;
    state: string;
    media_format: string | null;
    created_at: Date;
    created_us: string;
    finished_at: Date | null;
    recording_key: string | null;
    reporter: string;
    item_id: string | null;
    tags: string[];
  }>`
    select s.id, s.title, s.state, s.media_format, s.created_at, s.finished_at, s.recording_key,
      (extract(epoch from s.created_at) * 1000000)::bigint::text as created_us,
      u.email as reporter, i.id as item_id,
      coalesce((select json_agg(t.name order by t.name) from item_tags it join tags t on t.id = it.tag_id where it.item_id = i.id), '[]'::json) as tags
    from streams s
    join users u on u.id = s.owner_id
    -- Lateral (LIMIT keeps it from being flattened; stream_id is unique): one probe of
    -- items_stream_id_key per lane. A plain join is planned from the
    -- estimate of lanes in the window (a third of all streams for any range on coalesce(...)), and
    -- at 1k streams it walked every stream's item in id order to meet the day's ~30.
    left join lateral (select i.id from items i where i.stream_id = s.id limit 1) i on true
    where s.created_at < ${f.to} and coalesce(s.finished_at, now()) > ${f.from}
      ${f.ownerId ? sql`and s.owner_id = ${f.ownerId}` : sql``}
      ${f.tagId ? sql`and exists (select 1 from item_tags m where m.item_id = i.id and m.tag_id = ${f.tagId})` : sql``}
      ${f.after ? sql`and (s.created_at, s.id) > (timestamptz 'epoch' + ${f.after.createdUs}::bigint * interval '1 microsecond', ${f.after.id}::uuid)` : sql``}
    order by s.created_at, s.id
    limit ${f.limit}`.execute(db);
  return rows;
}

/**
 * Stored media of these streams inside the window, merged into spans: classic streams by their
 * segments (PROGRAM-DATE-TIME + duration), CMAF streams by their listed parts (capture time +
 * duration). Pieces closer than `toleranceMs` to the end of what came before join its span —
 * the gaps-and-islands query, in the database, so a long stream is a few rows, not thousands.
 */
export async function spans(db: Db, streamIds: string[], from: Date, to: Date, toleranceMs: number, perLane: number) {
  if (!streamIds.length) return [];
  const { rows } = await sql<{ stream_id: string; start: Date; end: Date; n: string }>`
    with media as (
      select g.stream_id, g.program_date_time as s, g.program_date_time + g.duration * interval '1 second' as e
      from segments g
      where g.stream_id = any(${streamIds}::uuid[]) and g.program_date_time < ${to} and g.program_date_time + g.duration * interval '1 second' > ${from}
      union all
      select c.stream_id, coalesce(c.capture_start, c.received_at), coalesce(c.capture_start, c.received_at) + coalesce(c.duration, 0) * interval '1 second'
      from chunks c join streams st on st.id = c.stream_id
      where st.media_format = 'cmaf' and c.state = 'listed' and c.stream_id = any(${streamIds}::uuid[])
        and coalesce(c.capture_start, c.received_at) < ${to} and coalesce(c.capture_start, c.received_at) + coalesce(c.duration, 0) * interval '1 second' > ${from}
    ), ordered as (
      select stream_id, s, e, max(e) over (partition by stream_id order by s, e rows between unbounded preceding and 1 preceding) as prev_end from media
    ), grouped as (
      select stream_id, s, e,
        sum(case when prev_end is null or s > prev_end + ${toleranceMs}::float8 * interval '1 millisecond' then 1 else 0 end) over (partition by stream_id order by s, e) as grp
      from ordered
    ), merged as (
      select stream_id, greatest(min(s), ${from}::timestamptz) as start, least(max(e), ${to}::timestamptz) as "end",
        row_number() over (partition by stream_id order by min(s)) as n
      from grouped group by stream_id, grp
    )
    select stream_id, start, "end", n::text from merged where n <= ${perLane + 1} order by stream_id, start`.execute(db);
  return rows;
}

/**
 * Items other than streams created in the window, and guidance given in it, oldest first. The
 * items' part is an index-only walk of items_marks_idx (migration 0020) in (created_at, id) order:
 * the id's text sorts as the uuid does (fixed-width lowercase hex, dashes at the same places), so
 * the sort on id::text is an incremental sort of ties only. After a cursor, the plain bound on the
 * time is what the index is entered with; the row comparison (not indexable) settles the ties.
 */
export async function marks(db: Db, f: { from: Date; to: Date; tagId?: string; ownerId?: string; after?: { atUs: string; id: string }; limit: number }) {
  const cursorAt = f.after ? sql`(timestamptz 'epoch' + ${f.after.atUs}::bigint * interval '1 microsecond')` : sql``;
  const after = (at: RawBuilder<unknown>, id: RawBuilder<unknown>) =>
    f.after ? sql`and ${at} >= ${cursorAt} and (${at}, ${id}) > (${cursorAt}, ${f.after.id}::text)` : sql``;
  const { rows } = await sql<{
    type: "item" | "guidance";
    at: Date;
    at_us: string;
    id: string;
    stream_id: string | null;
    kind: string | null;
    title: string;
    lat: number | null;
    lng: number | null;
    heading: number | null;
    by: string | null;
  }>`
    (select 'item' as type, i.created_at as at, (extract(epoch from i.created_at) * 1000000)::bigint::text as at_us, i.id::text as id, null::uuid as stream_id, i.kind, i.title, i.lat, i.lng, i.heading, u.email as by
     from items i join users u on u.id = i.author_id
     where i.stream_id is null and i.created_at >= ${f.from} and i.created_at < ${f.to}
       ${f.ownerId ? sql`and i.author_id = ${f.ownerId}` : sql``}
       ${f.tagId ? sql`and exists (select 1 from item_tags m where m.item_id = i.id and m.tag_id = ${f.tagId})` : sql``}
       ${after(sql`i.created_at`, sql`i.id::text`)}
     order by i.created_at, i.id::text limit ${f.limit + 1})
    union all
    (select 'guidance', g.created_at, (extract(epoch from g.created_at) * 1000000)::bigint::text, g.id::text, g.stream_id, null, g.message, g.lat, g.lng, g.heading, u.email
     from guidance g join streams s on s.id = g.stream_id left join users u on u.id = g.set_by
     where g.created_at >= ${f.from} and g.created_at < ${f.to}
       ${f.ownerId ? sql`and s.owner_id = ${f.ownerId}` : sql``}
       ${f.tagId ? sql`and exists (select 1 from items si join item_tags m on m.item_id = si.id where si.stream_id = s.id and m.tag_id = ${f.tagId})` : sql``}
       ${after(sql`g.created_at`, sql`g.id::text`)}
     order by g.created_at, g.id::text limit ${f.limit + 1})
    order by at, id
    limit ${f.limit + 1}`.execute(db);
  return rows;
}
