// API shapes as the server declares them (core/*/…model.ts): the client never retypes them.
// Type-only imports: nothing of the server reaches the browser bundle.
import type { Static } from "elysia";
import type * as Items from "../../core/items/items.model.ts";
import type * as Streams from "../../core/streams/streams.model.ts";
import type * as Timeline from "../../core/timeline/timeline.model.ts";
import type * as Exports from "../../core/evidence/exports.model.ts";
import type { EventType } from "../../core/events/events.service.ts";
import type { LockView } from "../../core/guidance/lock.service.ts";
import type { GuidanceView } from "../../core/guidance/guidance.service.ts";

export type StreamView = Static<typeof Streams.StreamView>;
export type ItemView = Static<typeof Items.ItemView>;
export type CommentView = Static<typeof Items.CommentView>;
export type TimelineView = Static<typeof Timeline.TimelineView>;
export type Lane = Static<typeof Timeline.Lane>;
export type Mark = Static<typeof Timeline.Mark>;
export type ExportView = Static<typeof Exports.ExportView>;
export type { EventType, GuidanceView, LockView };

/** One frame of GET /api/v1/events: the event's data with stream_id and at folded in (events.http.ts). */
export interface ServerEvent<T extends EventType = EventType> {
  id: string;
  type: T;
  data: Record<string, any> & { stream_id: string | null; at: string };
}
