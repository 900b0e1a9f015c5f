import { t } from "elysia";
import { UUID_CURSOR_PATTERN } from "../http/schema.ts";
import { TagName } from "../items/items.model.ts";

/** Bounds of one timeline request: the widest window, lanes per page, spans per lane, marks. */
export const MAX_WINDOW_MS = 7 * 24 * 3600_000;
export const MAX_LANES = 200;
export const DEFAULT_LANES = 50;
export const MAX_SPANS_PER_LANE = 1000;
export const MAX_MARKS = 2000;
/** Media closer than this to the previous piece belongs to the same span (chunk boundaries, jitter). */
export const GAP_TOLERANCE_MS = 1500;

export const TimelineQuery = t.Object({
  from: t.String({ format: "date-time", description: "start of the window (RFC 3339)" }),
  to: t.String({ format: "date-time", description: "end of the window; at most 7 days after from" }),
  tag: t.Optional(TagName),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: MAX_LANES, description: `lanes per page (default ${DEFAULT_LANES})` })),
  cursor: t.Optional(t.String({ maxLength: 100, pattern: UUID_CURSOR_PATTERN, description: "next_cursor of the previous page" })),
  marks_cursor: t.Optional(
    t.String({ maxLength: 100, pattern: "^[0-9]{1,17}_[0-9a-fA-F-]{1,36}$", description: "next_marks_cursor of the previous answer: the marks after it" }),
  ),
});

const Span = t.Object({ from: t.String(), to: t.String(), live: t.Boolean({ description: "the stream is live and this span reaches the present" }) });
const Gap = t.Object({ from: t.String(), to: t.String() });

export const Lane = t.Object({
  stream_id: t.String(),
  item_id: t.Union([t.String(), t.Null()]),
  title: t.String(),
  reporter: t.String(),
  state: t.String(),
  media_format: t.Union([t.String(), t.Null()]),
  created_at: t.String(),
  finished_at: t.Union([t.String(), t.Null()]),
  playlist_url: t.String(),
  recording_url: t.Union([t.String(), t.Null()]),
  tags: t.Array(t.String()),
  spans: t.Array(Span, { description: "stored media in the window, merged where pieces follow within 1.5 s" }),
  gaps: t.Array(Gap, { description: "holes between spans" }),
  spans_truncated: t.Boolean(),
});

export const Mark = t.Object({
  type: t.Union([t.Literal("item"), t.Literal("guidance")]),
  at: t.String(),
  id: t.String(),
  stream_id: t.Union([t.String(), t.Null()]),
  kind: t.Union([t.String(), t.Null()], { description: "item kind (text, photo, link)" }),
  title: t.String({ description: "item title, or guidance message" }),
  lat: t.Union([t.Number(), t.Null()]),
  lng: t.Union([t.Number(), t.Null()]),
  heading: t.Union([t.Number(), t.Null()]),
  by: t.Union([t.String(), t.Null()]),
});

export const TimelineView = t.Object({
  from: t.String(),
  to: t.String(),
  lanes: t.Array(Lane),
  next_cursor: t.Union([t.String(), t.Null()], { description: "pass as cursor for the next lanes; null on the last page" }),
  marks: t.Array(Mark, { description: "items and guidance in the window, oldest first, at most 2000: on the first page (no cursor), or after marks_cursor" }),
  marks_truncated: t.Boolean({ description: "more marks follow: ask again with marks_cursor=next_marks_cursor" }),
  next_marks_cursor: t.Union([t.String(), t.Null()]),
});
