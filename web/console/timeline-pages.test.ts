import { describe, expect, test } from "bun:test";
import { fetchTimelineAll } from "./timeline-pages.ts";
import type { Lane, Mark, TimelineView } from "./types.ts";

// A stand-in for GET /api/v1/timeline with the server's paging rules (timeline.service.ts):
// lanes by `limit` + `cursor`; marks `markPage` at a time, on the first lane page or after
// `marks_cursor`, none on later lane pages unless marks_cursor is given.
function server(nLanes: number, nMarks: number, markPage: number) {
  const lanes = Array.from({ length: nLanes }, (_, i) => ({ stream_id: `s${i}` }) as Lane);
  const marks = Array.from({ length: nMarks }, (_, i) => ({ id: `m${i}`, type: "item", at: new Date(i * 1000).toISOString() }) as Mark);
  const seen: URLSearchParams[] = [];
  const get = async (q: URLSearchParams): Promise<TimelineView> => {
    seen.push(q);
    const limit = Number(q.get("limit"));
    const cursor = q.get("cursor");
    const mc = q.get("marks_cursor");
    const start = cursor ? Number(cursor) : 0;
    const page = lanes.slice(start, start + limit);
    const mStart = mc ? Number(mc) : 0;
    const markRows = cursor && !mc ? [] : marks.slice(mStart, mStart + markPage);
    const more = !(cursor && !mc) && mStart + markPage < marks.length;
    return {
      from: q.get("from")!,
      to: q.get("to")!,
      lanes: page,
      next_cursor: start + limit < lanes.length ? String(start + limit) : null,
      marks: markRows,
      marks_truncated: more,
      next_marks_cursor: more ? String(mStart + markPage) : null,
    };
  };
  return { get, seen };
}
const base = new URLSearchParams({ from: "2026-11-28T07:00:00.000Z", to: "2026-11-28T08:00:00.000Z", tag: "flood" });

describe("fetchTimelineAll", () => {
  test("one page: one request", async () => {
    const s = server(3, 5, 2000);
    const all = await fetchTimelineAll(s.get, base);
    expect(all.lanes.map((l) => l.stream_id)).toEqual(["s0", "s1", "s2"]);
    expect(all.marks.length).toBe(5);
    expect([all.requests, all.lanesCut, all.marksCut]).toEqual([1, false, false]);
    expect(s.seen[0]!.get("tag")).toBe("flood");
  });

  test("lanes and marks beyond the first page: every one once, in order, both cursors followed together", async () => {
    const s = server(250, 4500, 2000);
    const all = await fetchTimelineAll(s.get, base, { lanesPerPage: 100 });
    expect(all.lanes.map((l) => l.stream_id)).toEqual(Array.from({ length: 250 }, (_, i) => `s${i}`));
    expect(all.marks.map((m) => m.id)).toEqual(Array.from({ length: 4500 }, (_, i) => `m${i}`));
    expect([all.lanesCut, all.marksCut]).toEqual([false, false]);
    // 3 lane pages and 3 mark pages share requests.
    expect(all.requests).toBe(3);
  });

  test("marks continue after the lanes ran out, without repeating lanes", async () => {
    const s = server(2, 7, 2);
    const all = await fetchTimelineAll(s.get, base);
    expect(all.lanes.map((l) => l.stream_id)).toEqual(["s0", "s1"]);
    expect(all.marks.map((m) => m.id)).toEqual(["m0", "m1", "m2", "m3", "m4", "m5", "m6"]);
    expect(all.requests).toBe(4);
    // Requests for marks alone ask for a single lane.
    expect(s.seen.slice(1).map((q) => q.get("limit"))).toEqual(["1", "1", "1"]);
  });

  test("bounded: stops at the page limits and says what was cut", async () => {
    const s = server(10_000, 100_000, 2000);
    const all = await fetchTimelineAll(s.get, base, { lanesPerPage: 100, maxLanePages: 10, maxMarkPages: 5 });
    expect(all.lanes.length).toBe(1000);
    expect(all.marks.length).toBe(10_000);
    expect([all.lanesCut, all.marksCut]).toEqual([true, true]);
    expect(all.requests).toBe(10);
  });
});
