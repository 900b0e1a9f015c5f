// The whole timeline of a window, as far as the console will draw it: GET /api/v1/timeline pages
// its lanes (next_cursor) and its marks (next_marks_cursor) separately; this follows both, in the
// same requests while both have more, up to a fixed number of pages each, so a busy window shows
// every stream and every mark instead of the first page only, and a huge one stays bounded.
// DOM-free: the fetch is passed in, so it is unit-tested without a browser.

import type { Lane, Mark, TimelineView } from "./types.ts";

/** Lanes asked per request, and how many lane pages the console follows (1000 lanes). */
export const LANES_PER_PAGE = 100;
export const MAX_LANE_PAGES = 10;
/** Mark pages (2000 marks each on the server) the console follows: 10 000 marks. */
export const MAX_MARK_PAGES = 5;

export interface TimelineAll {
  from: string;
  to: string;
  lanes: Lane[];
  marks: Mark[];
  /** More lanes or marks exist in the window than the bounds let the console fetch. */
  lanesCut: boolean;
  marksCut: boolean;
  requests: number;
}

export async function fetchTimelineAll(
  get: (query: URLSearchParams) => Promise<TimelineView>,
  base: URLSearchParams,
  bounds: { lanesPerPage?: number; maxLanePages?: number; maxMarkPages?: number } = {},
): Promise<TimelineAll> {
  const perPage = bounds.lanesPerPage ?? LANES_PER_PAGE;
  const maxLanePages = bounds.maxLanePages ?? MAX_LANE_PAGES;
  const maxMarkPages = bounds.maxMarkPages ?? MAX_MARK_PAGES;
  const query = (extra: Record<string, string>) => {
    const q = new URLSearchParams(base);
    q.set("limit", String(perPage));
    for (const [k, v] of Object.entries(extra)) q.set(k, v);
    return q;
  };
  const first = await get(query({}));
  const lanes = new Map<string, Lane>(first.lanes.map((l) => [l.stream_id, l]));
  const marks: Mark[] = [...first.marks];
  let laneCursor = first.next_cursor;
  let markCursor = first.marks_truncated ? first.next_marks_cursor : null;
  let lanePages = 1;
  let markPages = 1;
  let requests = 1;
  for (;;) {
    const wantLanes = laneCursor !== null && lanePages < maxLanePages;
    const wantMarks = markCursor !== null && markPages < maxMarkPages;
    if (!wantLanes && !wantMarks) break;
    // A request with a lane cursor carries marks only when marks_cursor is given too; one for
    // marks alone repeats the first lane page, so it asks for a single lane and drops it.
    const extra: Record<string, string> = wantLanes ? { cursor: laneCursor! } : { limit: "1" };
    if (wantMarks) extra.marks_cursor = markCursor!;
    const page = await get(query(extra));
    requests++;
    if (wantLanes) {
      for (const l of page.lanes) if (!lanes.has(l.stream_id)) lanes.set(l.stream_id, l);
      laneCursor = page.next_cursor;
      lanePages++;
    }
    if (wantMarks) {
      marks.push(...page.marks);
      markCursor = page.marks_truncated ? page.next_marks_cursor : null;
      markPages++;
    }
  }
  return { from: first.from, to: first.to, lanes: [...lanes.values()], marks, lanesCut: laneCursor !== null, marksCut: markCursor !== null, requests };
}
