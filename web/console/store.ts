// The console's data and the one pure function that moves it on an event. Views read the state;
// the shell (console.ts) runs the effects the reducer asks for (fetches it cannot do itself) and
// re-renders. No DOM, no network here: `bun test` checks it directly (store.test.ts).

import type { CommentView, EventType, ItemView, ServerEvent, StreamView } from "./types.ts";

export interface Sample {
  t: number;
  lat: number;
  lng: number;
  heading: number | null;
}

export interface Guidance {
  lat: number | null;
  lng: number | null;
  heading: number | null;
  message: string;
  by: string | null;
}

export interface Holder {
  id: string;
  email: string;
}

export interface ExportState {
  id: string;
  state: string;
  progress: number;
  error: string | null;
}

export interface State {
  streams: ReadonlyMap<string, StreamView>;
  items: ReadonlyMap<string, ItemView>;
  /** The open workspace (a tag) or null for all items. */
  tag: string | null;
  /** Item ids of the open workspace, in its shared order. */
  order: readonly string[];
  telemetry: ReadonlyMap<string, readonly Sample[]>;
  guidance: ReadonlyMap<string, Guidance>;
  /** Direction lock per stream: who guides it (null: free). Absent: not asked yet. */
  locks: ReadonlyMap<string, Holder | null>;
  /** Comments of the items whose thread is open (loaded), oldest first. */
  comments: ReadonlyMap<string, readonly CommentView[]>;
  exports: ReadonlyMap<string, ExportState>;
  focus: string | null;
  /** Alerts raised by events of the open workspace, newest first (at most ALERTS_KEEP). */
  alerts: readonly Alert[];
  /** No sound and no system notification (the list still fills). */
  muted: boolean;
  /** The signed-in user's email: their own reports raise no alert for themselves. */
  me: string | null;
}

/** Something an operator should look at now: a new live stream, a report, a rule's hit. */
export interface Alert {
  /** The event's id: one alert per event, even if it is applied twice. */
  id: string;
  kind: "stream" | "report" | "rule";
  /** Plain text (shown with textContent): it carries reporters' words. */
  text: string;
  at: string;
  itemId: string | null;
  streamId: string | null;
}

/** What the reducer cannot do itself: fetches whose answers come back through `merge*`. */
export type Effect =
  | { kind: "loadStream"; id: string }
  | { kind: "loadItem"; id: string }
  | { kind: "loadTags" }
  | { kind: "loadWorkspace" }
  | { kind: "reloadItems" }
  | { kind: "loadRules" }
  /** A focused live stream ended: focus it again as a replay. */
  | { kind: "refocus"; id: string }
  /** Beep and, when allowed, a system notification (only asked while not muted). */
  | { kind: "notify"; alert: Alert };

export const TELEMETRY_KEEP = 600;
export const ALERTS_KEEP = 50;

export function emptyState(): State {
  return {
    streams: new Map(),
    items: new Map(),
    tag: null,
    order: [],
    telemetry: new Map(),
    guidance: new Map(),
    locks: new Map(),
    comments: new Map(),
    exports: new Map(),
    focus: null,
    alerts: [],
    muted: false,
    me: null,
  };
}

const set = <K, V>(m: ReadonlyMap<K, V>, k: K, v: V): Map<K, V> => new Map(m).set(k, v);
const del = <K, V>(m: ReadonlyMap<K, V>, k: K): Map<K, V> => {
  const n = new Map(m);
  n.delete(k);
  return n;
};
const sameTag = (s: State, tag: unknown) => !!s.tag && typeof tag === "string" && tag.toLowerCase() === s.tag.toLowerCase();

/** An event belongs to the open workspace when it carries its tag; with none open, every event does. */
const inOpenWorkspace = (s: State, tags: unknown): boolean => !s.tag || (Array.isArray(tags) && tags.some((t) => sameTag(s, t)));

/**
 * Adds the alert of an event (once per event id) and asks for the sound unless muted. The
 * signed-in user's own actions alert nobody but others.
 */
function raise(s: State, e: ServerEvent, a: Omit<Alert, "id" | "at">, tags: unknown, by: unknown): { state: State; effects: Effect[] } {
  if (!inOpenWorkspace(s, tags) || (s.me !== null && typeof by === "string" && by.toLowerCase() === s.me.toLowerCase()) || s.alerts.some((x) => x.id === e.id))
    return { state: s, effects: [] };
  const alert: Alert = { ...a, id: e.id, at: String(e.data.at) };
  return { state: { ...s, alerts: [alert, ...s.alerts].slice(0, ALERTS_KEEP) }, effects: s.muted ? [] : [{ kind: "notify", alert }] };
}

/** Plain text of an event field, kept short (an alert is one line). */
const short = (v: unknown, max = 120): string => {
  const t = typeof v === "string" ? v.replace(/\s+/g, " ").trim() : "";
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
};

/** The alert's reduction plus the event's other effects; the sound first, not after the fetches. */
function also(out: { state: State; effects: Effect[] }, more: Effect[]): { state: State; effects: Effect[] } {
  return { state: out.state, effects: [...out.effects, ...more] };
}

export function dismissAlert(s: State, id: string): State {
  return { ...s, alerts: s.alerts.filter((a) => a.id !== id) };
}

export function dismissAllAlerts(s: State): State {
  return s.alerts.length ? { ...s, alerts: [] } : s;
}

export function setMuted(s: State, muted: boolean): State {
  return s.muted === muted ? s : { ...s, muted };
}

export function itemOfStream(s: State, streamId: string): ItemView | undefined {
  for (const i of s.items.values()) if (i.stream?.id === streamId) return i;
  return undefined;
}

/** Items newest first, with a stable tie-break on id (keyset order of the API). */
export function newestFirst(a: ItemView, b: ItemView): number {
  return b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id);
}

export function mergeItems(s: State, items: readonly ItemView[]): State {
  if (!items.length) return s;
  const m = new Map(s.items);
  for (const i of items) m.set(i.id, i);
  return { ...s, items: m };
}

export function mergeStream(s: State, stream: StreamView): State {
  return { ...s, streams: set(s.streams, stream.id, stream) };
}

export function mergeComments(s: State, itemId: string, list: readonly CommentView[]): State {
  const have = s.comments.get(itemId) ?? [];
  const ids = new Set(have.map((c) => c.id));
  const merged = [...have, ...list.filter((c) => !ids.has(c.id))].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  return { ...s, comments: set(s.comments, itemId, merged) };
}

/**
 * Applies one server event. Pure: the same state and event give the same answer, the input is
 * never changed. Every server event kind has a case: a kind added on the server and not here
 * fails the typecheck at `unhandled`.
 */
export function apply(s: State, e: ServerEvent): { state: State; effects: Effect[] } {
  const d = e.data;
  const sid = d.stream_id;
  const none = (state: State) => ({ state, effects: [] as Effect[] });
  const type: EventType = e.type;
  switch (type) {
    case "stream.created": {
      if (!sid) return none(s);
      const alert = raise(
        s,
        e,
        { kind: "stream", text: `Live stream by ${short(d.owner) || "a reporter"}: ${short(d.title) || "untitled"}`, itemId: null, streamId: sid },
        d.tags,
        d.owner,
      );
      return also(alert, [{ kind: "loadStream", id: sid }, { kind: "reloadItems" }]);
    }
    case "segment.created": {
      const st = sid ? s.streams.get(sid) : undefined;
      if (!st) return { state: s, effects: sid ? [{ kind: "loadStream", id: sid }] : [] };
      const segments = Math.max(st.segments, 1 + (Number(d.seq) || 0));
      return none(segments === st.segments ? s : mergeStream(s, { ...st, segments }));
    }
    case "stream.reopened":
    case "recording.ready":
      return { state: s, effects: sid ? [{ kind: "loadStream", id: sid }] : [] };
    case "stream.finished":
    case "stream.failed": {
      if (!sid) return none(s);
      const st = s.streams.get(sid);
      // Known at once (the fetch brings the rest): a tile disappears without waiting for it.
      const next =
        st && st.state === "live" ? mergeStream(s, { ...st, state: type === "stream.failed" ? "failed" : "finished", finished_at: d.at ?? st.finished_at }) : s;
      const effects: Effect[] = [{ kind: "loadStream", id: sid }];
      if (s.focus === sid) effects.push({ kind: "refocus", id: sid });
      return { state: { ...next, locks: del(next.locks, sid) }, effects };
    }
    case "stream.deleted": {
      if (!sid) return none(s);
      const items = new Map(s.items);
      for (const [id, i] of s.items) if (i.stream?.id === sid) items.delete(id);
      return none({
        ...s,
        streams: del(s.streams, sid),
        items,
        order: s.order.filter((id) => items.has(id)),
        telemetry: del(s.telemetry, sid),
        guidance: del(s.guidance, sid),
        locks: del(s.locks, sid),
        focus: s.focus === sid ? null : s.focus,
      });
    }
    case "chunk.failed":
      // Shown on the stream's own page (failed_chunks); nothing on the console changes.
      return none(s);
    case "poster.updated": {
      const st = sid ? s.streams.get(sid) : undefined;
      return none(st ? mergeStream(s, { ...st, poster_url: `/api/v1/streams/${st.id}/poster.jpg?v=${e.id}` }) : s);
    }
    case "telemetry": {
      if (!sid || typeof d.lat !== "number" || typeof d.lng !== "number") return none(s);
      const sample: Sample = { t: Date.parse(d.t), lat: d.lat, lng: d.lng, heading: typeof d.heading === "number" ? d.heading : null };
      const track = [...(s.telemetry.get(sid) ?? []), sample].slice(-TELEMETRY_KEEP);
      let next: State = { ...s, telemetry: set(s.telemetry, sid, track) };
      const item = itemOfStream(s, sid);
      if (item) next = mergeItems(next, [{ ...item, lat: sample.lat, lng: sample.lng, heading: sample.heading ?? item.heading }]);
      return none(next);
    }
    case "item.created": {
      const load: Effect[] = [{ kind: "loadItem", id: d.item_id }];
      // Stream items arrive with their stream (its own alert); a report is text, a link or a photo.
      if (d.kind === "stream") return { state: s, effects: load };
      const what = d.kind === "photo" ? "Photo" : d.kind === "link" ? "Link" : "Report";
      return also(
        raise(
          s,
          e,
          { kind: "report", text: `${what} from ${short(d.by) || "a reporter"}: ${short(d.title) || "untitled"}`, itemId: d.item_id, streamId: null },
          d.tags,
          d.by,
        ),
        load,
      );
    }
    case "item.deleted":
      return none({
        ...s,
        items: del(s.items, d.item_id),
        order: s.order.filter((id) => id !== d.item_id),
        comments: del(s.comments, d.item_id),
        focus: s.focus === d.item_id ? null : s.focus,
      });
    case "item.updated": {
      const item = s.items.get(d.item_id);
      if (!item) return none(s);
      const changes = (d.changes ?? {}) as Partial<Pick<ItemView, "title" | "body" | "lat" | "lng" | "heading">>;
      const pick: Partial<ItemView> = {};
      for (const k of ["title", "body", "lat", "lng", "heading"] as const) if (k in changes) (pick as Record<string, unknown>)[k] = changes[k];
      return none(mergeItems(s, [{ ...item, ...pick }]));
    }
    case "item.commented": {
      // Only threads someone opened are kept; the others load when opened.
      if (!s.comments.has(d.item_id) || typeof d.comment_id !== "string") return none(s);
      const c: CommentView = {
        id: d.comment_id,
        item_id: d.item_id,
        author: { id: "", email: String(d.by ?? "") },
        body: String(d.body ?? ""),
        created_at: String(d.created_at ?? d.at),
      };
      return none(mergeComments(s, d.item_id, [c]));
    }
    case "tag.added":
    case "tag.removed": {
      const effects: Effect[] = [{ kind: "loadItem", id: d.item_id }];
      if (sameTag(s, d.tag)) effects.push({ kind: "loadWorkspace" });
      if (type === "tag.added") effects.push({ kind: "loadTags" });
      if (type !== "tag.added" || d.auto !== true) return { state: s, effects };
      // A rule's hit (the database's autotag adds the tag with auto: true).
      const item = s.items.get(d.item_id);
      const label = item ? short(item.title || item.body) || `${item.kind} by ${item.author.email}` : "an item";
      return also(
        raise(
          s,
          e,
          { kind: "rule", text: `Rule of ${short(d.tag, 60)} matched: ${label}`, itemId: d.item_id, streamId: item?.stream?.id ?? null },
          [d.tag],
          null,
        ),
        effects,
      );
    }
    case "tag.created":
      return { state: s, effects: [{ kind: "loadTags" }] };
    case "rank.changed":
      return none(sameTag(s, d.tag) && Array.isArray(d.items) ? { ...s, order: d.items as string[] } : s);
    case "rule.created":
    case "rule.deleted":
      return { state: s, effects: sameTag(s, d.tag) ? [{ kind: "loadTags" }, { kind: "loadRules" }] : [{ kind: "loadTags" }] };
    case "guidance.set":
      return none(
        sid
          ? {
              ...s,
              guidance: set(s.guidance, sid, {
                lat: d.lat ?? null,
                lng: d.lng ?? null,
                heading: d.heading ?? null,
                message: d.message ?? "",
                by: d.by ?? null,
              }),
            }
          : s,
      );
    case "guidance.cleared":
      return none(sid ? { ...s, guidance: del(s.guidance, sid) } : s);
    case "guidance.locked":
      return none(
        sid
          ? { ...s, locks: set(s.locks, sid, d.holder && typeof d.holder.email === "string" ? { id: String(d.holder.id), email: d.holder.email } : null) }
          : s,
      );
    case "export.progress": {
      if (typeof d.export_id !== "string") return none(s);
      return none({
        ...s,
        exports: set(s.exports, d.export_id, { id: d.export_id, state: String(d.state), progress: Number(d.progress) || 0, error: d.error ?? null }),
      });
    }
    default:
      return unhandled(type);
  }
}

function unhandled(type: never): never {
  throw new Error(`event kind without a case: ${String(type)}`);
}

export function dropItem(s: State, id: string): State {
  return s.items.has(id) ? { ...s, items: del(s.items, id), order: s.order.filter((x) => x !== id) } : s;
}

export function setTrack(s: State, streamId: string, track: readonly Sample[]): State {
  return { ...s, telemetry: set(s.telemetry, streamId, track.slice(-TELEMETRY_KEEP)) };
}
