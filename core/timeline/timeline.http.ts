import { Elysia } from "elysia";
import { requireUser } from "../auth/auth.http.ts";
import type { ApiContext } from "../runtime.ts";
import { TimelineQuery, TimelineView } from "./timeline.model.ts";
import { timeline } from "./timeline.service.ts";

/** The incident timeline: every stream of a window as a lane, items and guidance as marks. */
export function timelineRoutes(rt: ApiContext) {
  const db = () => rt.database.db;
  return new Elysia({ name: "timeline" }).use(requireUser(rt)).get("/api/v1/timeline", ({ user, query }) => timeline(db(), user, query), {
    query: TimelineQuery,
    response: { 200: TimelineView },
    detail: {
      tags: ["timeline"],
      summary:
        "One wall-clock timeline of a window (at most 7 days; ?tag= a workspace): a lane per stream overlapping it, oldest first, with live/recorded spans and gaps; items and guidance as marks. Lanes are paged (limit ≤ 200, next_cursor); at most 1000 spans per lane, flagged when cut; marks come with the first page, 2000 at a time (more with marks_cursor=next_marks_cursor)",
    },
  });
}
