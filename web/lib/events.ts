// The server's event stream (GET /api/v1/events). EventSource resumes with Last-Event-ID by
// itself after a dropped connection; when it gives up (e.g. a 503 while a node restarts) we open
// a new one with ?since=<last id>, so nothing is missed either way.

import type { EventType, ServerEvent } from "../console/types.ts";
export type { ServerEvent };

/** Every kind the server publishes (core/events/events.service.ts); the check below fails the typecheck when one is missing. */
export const EVENT_TYPES = [
  "stream.created",
  "stream.finished",
  "stream.reopened",
  "stream.failed",
  "stream.deleted",
  "segment.created",
  "chunk.failed",
  "telemetry",
  "poster.updated",
  "recording.ready",
  "item.created",
  "item.deleted",
  "item.updated",
  "item.commented",
  "tag.created",
  "tag.added",
  "tag.removed",
  "rank.changed",
  "rule.created",
  "rule.deleted",
  "guidance.set",
  "guidance.cleared",
  "guidance.locked",
  "export.progress",
] as const satisfies readonly EventType[];
type Missing = Exclude<EventType, (typeof EVENT_TYPES)[number]>;
export const everyServerEventIsListenedTo: [Missing] extends [never] ? true : { missing: Missing } = true;

export function subscribe(onEvent: (e: ServerEvent) => void, onState?: (connected: boolean) => void): () => void {
  let last: string | null = null;
  let es: EventSource | null = null;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const open = () => {
    if (closed) return;
    es = new EventSource(last ? `/api/v1/events?since=${last}` : "/api/v1/events");
    es.onopen = () => onState?.(true);
    es.onerror = () => {
      onState?.(false);
      if (es?.readyState === EventSource.CLOSED) {
        es = null;
        timer = setTimeout(open, 2_000);
      }
    };
    for (const type of EVENT_TYPES) {
      es.addEventListener(type, (m) => {
        const msg = m as MessageEvent<string>;
        last = msg.lastEventId || last;
        try {
          onEvent({ id: msg.lastEventId, type, data: JSON.parse(msg.data) });
        } catch (err) {
          console.error("event handler failed", type, err);
        }
      });
    }
  };
  open();
  return () => {
    closed = true;
    if (timer) clearTimeout(timer);
    es?.close();
  };
}
