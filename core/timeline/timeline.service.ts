import type { Kysely } from "kysely";
import type { AuthUser } from "../auth/auth.service.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { findTag } from "../items/items.repository.ts";
import * as repo from "./timeline.repository.ts";
import { DEFAULT_LANES, GAP_TOLERANCE_MS, MAX_MARKS, MAX_SPANS_PER_LANE, MAX_WINDOW_MS } from "./timeline.model.ts";

export interface TimelineQuery {
  from: string;
  to: string;
  tag?: string;
  limit?: number;
  cursor?: string;
  marks_cursor?: string;
}

/** A live stream's span that ends this close to now is "live": the lane reaches the present. */
const LIVE_EDGE_MS = 30_000;

function time(v: string, name: string): Date {
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new AppError("bad_request", `${name} must be an RFC 3339 time`);
  return d;
}

/**
 * One wall-clock timeline of a window: a lane per stream that overlaps it (live and recorded
 * spans, the gaps between), and the items and guidance of the window as marks. Reporters see
 * only their own. Bounded: a window of at most 7 days, lanes paged by keyset, spans per lane and
 * marks capped (with a flag saying so).
 */
export async function timeline(db: Kysely<DB>, user: AuthUser, q: TimelineQuery) {
  const from = time(q.from, "from");
  const to = time(q.to, "to");
  if (from >= to) throw new AppError("bad_request", "from must be before to");
  if (to.getTime() - from.getTime() > MAX_WINDOW_MS) throw new AppError("bad_request", `the window may be at most ${MAX_WINDOW_MS / 3600_000} hours`);
  let tagId: string | undefined;
  if (q.tag !== undefined) {
    const tag = await findTag(db, q.tag);
    // For a reporter an unknown workspace is one without their streams (a 404 would tell them which names exist).
    if (!tag && user.role === "reporter")
      return { from: from.toISOString(), to: to.toISOString(), lanes: [], next_cursor: null, marks: [], marks_truncated: false, next_marks_cursor: null };
    if (!tag) throw new AppError("not_found", `no tag ${q.tag}`);
    tagId = tag.id;
  }
  const ownerId = user.role === "reporter" ? user.id : undefined;
  const limit = q.limit ?? DEFAULT_LANES;
  const after = q.cursor ? { createdUs: q.cursor.split("_")[0]!, id: q.cursor.split("_")[1]!.toLowerCase() } : undefined;
  const rows = await repo.lanes(db, { from, to, tagId, ownerId, after, limit: limit + 1 });
  const page = rows.slice(0, limit);
  const spanRows = await repo.spans(
    db,
    page.map((r) => r.id),
    from,
    to,
    GAP_TOLERANCE_MS,
    MAX_SPANS_PER_LANE,
  );
  const byStream = new Map<string, typeof spanRows>();
  for (const s of spanRows) byStream.set(s.stream_id, [...(byStream.get(s.stream_id) ?? []), s]);
  const now = Date.now();
  const lanes = page.map((r) => {
    const all = byStream.get(r.id) ?? [];
    const mine = all.slice(0, MAX_SPANS_PER_LANE);
    const spans = mine.map((s, i) => ({
      from: new Date(s.start).toISOString(),
      to: new Date(s.end).toISOString(),
      live: r.state === "live" && i === mine.length - 1 && now - new Date(s.end).getTime() < LIVE_EDGE_MS,
    }));
    const gaps = spans.slice(1).map((s, i) => ({ from: spans[i]!.to, to: s.from }));
    return {
      stream_id: r.id,
      item_id: r.item_id,
      title: r.title,
      reporter: r.reporter,
      state: r.state,
      media_format: r.media_format,
      created_at: new Date(r.created_at).toISOString(),
      finished_at: r.finished_at ? new Date(r.finished_at).toISOString() : null,
      playlist_url: `/api/v1/streams/${r.id}/hls/index.m3u8`,
      recording_url: r.recording_key ? `/api/v1/streams/${r.id}/recording.mp4` : null,
      tags: r.tags,
      spans,
      gaps,
      spans_truncated: all.length > MAX_SPANS_PER_LANE,
    };
  });
  const last = page[page.length - 1];
  // Marks come with the first page of lanes, or after marks_cursor; later lane pages carry none.
  const marksAfter = q.marks_cursor
    ? { atUs: q.marks_cursor.split("_")[0]!, id: q.marks_cursor.slice(q.marks_cursor.indexOf("_") + 1).toLowerCase() }
    : undefined;
  const markRows = q.cursor && !marksAfter ? [] : await repo.marks(db, { from, to, tagId, ownerId, after: marksAfter, limit: MAX_MARKS });
  const marks = markRows.slice(0, MAX_MARKS);
  const lastMark = marks[marks.length - 1];
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    lanes,
    next_cursor: rows.length > limit && last ? `${last.created_us}_${last.id}` : null,
    marks: marks.map(({ at_us: _, ...m }) => ({ ...m, at: new Date(m.at).toISOString() })),
    marks_truncated: markRows.length > MAX_MARKS,
    next_marks_cursor: markRows.length > MAX_MARKS && lastMark ? `${lastMark.at_us}_${lastMark.id}` : null,
  };
}
