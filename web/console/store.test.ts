import { describe, expect, test } from "bun:test";
import { EVENT_TYPES } from "../lib/events.ts";
import {
  ALERTS_KEEP,
  apply,
  dismissAlert,
  dismissAllAlerts,
  emptyState,
  mergeComments,
  mergeItems,
  mergeStream,
  setMuted,
  TELEMETRY_KEEP,
  type State,
} from "./store.ts";
import type { EventType, ItemView, ServerEvent, StreamView } from "./types.ts";

const S1 = "11111111-1111-4111-8111-111111111111";
const I1 = "22222222-2222-4222-8222-222222222222";
const I2 = "33333333-3333-4333-8333-333333333333";
let seq = 0;
const ev = <T extends EventType>(type: T, data: Record<string, unknown>, streamId: string | null = null): ServerEvent => ({
  id: String(++seq),
  type,
  data: { stream_id: streamId, at: "2026-11-28T05:00:00.000Z", ...data },
});

const stream = (over: Partial<StreamView> = {}): StreamView => ({
  id: S1,
  state: "live",
  title: "bridge",
  owner: { id: "u1", email: "r@x" },
  lat: null,
  lng: null,
  heading: null,
  tags: [],
  created_at: "2026-11-28T04:00:00.000Z",
  finished_at: null,
  chunks: 0,
  segments: 0,
  failed_chunks: [],
  duration: 0,
  playlist_url: `/api/v1/streams/${S1}/hls/index.m3u8`,
  poster_url: null,
  recording: null,
  format: "classic",
  ...over,
});
const item = (over: Partial<ItemView> = {}): ItemView => ({
  id: I1,
  kind: "text",
  title: "Tree down",
  body: "Elm",
  url: null,
  photo_url: null,
  stream: null,
  author: { id: "u1", email: "r@x" },
  lat: null,
  lng: null,
  heading: null,
  position_at: null,
  created_at: "2026-11-28T04:30:00.000Z",
  tags: [],
  ...over,
});

/** Deep copy to prove the reducer never changes its input. */
const snapshot = (s: State) => JSON.stringify(s, (_k, v) => (v instanceof Map ? [...v.entries()] : v));

function run(s: State, e: ServerEvent) {
  const before = snapshot(s);
  const out = apply(s, e);
  expect(snapshot(s)).toBe(before);
  return out;
}

describe("apply(state, event)", () => {
  test("every server event kind is handled without throwing, on an empty state and on a populated one", () => {
    let full = mergeStream(emptyState(), stream());
    full = mergeItems(full, [item(), item({ id: I2, kind: "stream", stream: { id: S1, state: "live", poster_url: null, playlist_url: "" } })]);
    full = { ...mergeComments(full, I1, []), tag: "flood", order: [I1, I2], focus: S1 };
    const data = {
      item_id: I1,
      tag: "flood",
      items: [I2, I1],
      seq: 3,
      t: "2026-11-28T05:00:00Z",
      lat: 45,
      lng: -73,
      heading: 10,
      changes: { title: "x" },
      comment_id: "c",
      body: "b",
      export_id: "e",
      state: "building",
      progress: 0.5,
      holder: { id: "u", email: "o@x" },
    };
    for (const type of EVENT_TYPES) {
      for (const s of [emptyState(), full]) expect(() => run(s, ev(type, data, S1))).not.toThrow();
    }
  });

  test("an unknown kind at run time is an error, not silently dropped", () => {
    expect(() => apply(emptyState(), ev("nope" as EventType, {}))).toThrow(/nope/);
  });

  test("segments only grow; an unknown stream asks to be loaded", () => {
    const s = mergeStream(emptyState(), stream({ segments: 5 }));
    expect(run(s, ev("segment.created", { seq: 9 }, S1)).state.streams.get(S1)!.segments).toBe(10);
    expect(run(s, ev("segment.created", { seq: 2 }, S1)).state).toBe(s);
    expect(run(emptyState(), ev("segment.created", { seq: 0 }, S1)).effects).toEqual([{ kind: "loadStream", id: S1 }]);
  });

  test("a focused live stream that finishes is refocused (as a replay) and its lock is forgotten", () => {
    const s: State = { ...mergeStream(emptyState(), stream()), focus: S1, locks: new Map([[S1, { id: "u", email: "o@x" }]]) };
    const out = run(s, ev("stream.finished", {}, S1));
    expect(out.state.streams.get(S1)!.state).toBe("finished");
    expect(out.state.locks.has(S1)).toBe(false);
    expect(out.effects).toEqual([
      { kind: "loadStream", id: S1 },
      { kind: "refocus", id: S1 },
    ]);
    expect(run({ ...s, focus: null }, ev("stream.failed", {}, S1)).effects).toEqual([{ kind: "loadStream", id: S1 }]);
    expect(run(s, ev("stream.failed", {}, S1)).state.streams.get(S1)!.state).toBe("failed");
  });

  test("stream.deleted removes the stream, its item, its place in the order, track, guidance and focus", () => {
    let s = mergeStream(emptyState(), stream());
    s = mergeItems(s, [item(), item({ id: I2, kind: "stream", stream: { id: S1, state: "finished", poster_url: null, playlist_url: "" } })]);
    s = {
      ...s,
      order: [I2, I1],
      focus: S1,
      telemetry: new Map([[S1, [{ t: 1, lat: 1, lng: 1, heading: null }]]]),
      guidance: new Map([[S1, { lat: null, lng: null, heading: 3, message: "", by: null }]]),
    };
    const out = run(s, ev("stream.deleted", { by: "admin@x" }, S1)).state;
    expect(out.streams.has(S1)).toBe(false);
    expect([...out.items.keys()]).toEqual([I1]);
    expect(out.order).toEqual([I1]);
    expect(out.telemetry.has(S1) || out.guidance.has(S1)).toBe(false);
    expect(out.focus).toBeNull();
  });

  test("telemetry appends, keeps the newest samples only, and moves the stream's item", () => {
    let s = mergeItems(emptyState(), [item({ id: I2, kind: "stream", stream: { id: S1, state: "live", poster_url: null, playlist_url: "" }, heading: 50 })]);
    for (let k = 0; k < TELEMETRY_KEEP + 5; k++)
      s = run(
        s,
        ev("telemetry", { t: new Date(k * 1000).toISOString(), lat: 45 + k / 1e4, lng: -73, heading: k === TELEMETRY_KEEP + 4 ? null : 90 }, S1),
      ).state;
    const track = s.telemetry.get(S1)!;
    expect(track).toHaveLength(TELEMETRY_KEEP);
    expect(track[0]!.t).toBe(5_000);
    expect(s.items.get(I2)!.lat).toBeCloseTo(45 + (TELEMETRY_KEEP + 4) / 1e4);
    // A sample without heading keeps the last known heading on the item.
    expect(s.items.get(I2)!.heading).toBe(90);
    // Garbage positions are ignored.
    expect(run(s, ev("telemetry", { lat: "x", lng: 1 }, S1)).state).toBe(s);
  });

  test("item.updated applies only the edited fields; item.deleted removes it everywhere", () => {
    const s: State = { ...mergeItems(emptyState(), [item({ tags: [{ name: "flood", rank: 1, auto: false }] })]), order: [I1], focus: I1 };
    const up = run(s, ev("item.updated", { item_id: I1, changes: { title: "Tree cleared", lat: null, author: "evil" } })).state.items.get(I1)!;
    expect(up.title).toBe("Tree cleared");
    expect(up.body).toBe("Elm");
    expect(up.lat).toBeNull();
    expect(up.author.email).toBe("r@x");
    expect(up.tags).toHaveLength(1);
    expect(run(s, ev("item.updated", { item_id: I2, changes: { title: "?" } })).state).toBe(s);
    const gone = run(s, ev("item.deleted", { item_id: I1 })).state;
    expect(gone.items.size + gone.order.length).toBe(0);
    expect(gone.focus).toBeNull();
  });

  test("comments join an open thread in time order, once; closed threads are left to load on opening", () => {
    const open = mergeComments(emptyState(), I1, [
      { id: "c2", item_id: I1, author: { id: "u", email: "a@x" }, body: "second", created_at: "2026-11-28T05:00:02Z" },
    ]);
    const c1 = ev("item.commented", { item_id: I1, comment_id: "c1", body: "first", by: "b@x", created_at: "2026-11-28T05:00:01Z" });
    const once = run(open, c1).state;
    const twice = run(once, c1).state;
    expect(twice.comments.get(I1)!.map((c) => c.body)).toEqual(["first", "second"]);
    expect(twice.comments.get(I1)![0]!.author.email).toBe("b@x");
    expect(run(emptyState(), c1).state.comments.has(I1)).toBe(false);
  });

  test("workspace events: order and reloads only for the open workspace, case-insensitively", () => {
    const s: State = { ...emptyState(), tag: "Flood", order: [I1, I2] };
    expect(run(s, ev("rank.changed", { tag: "flood", items: [I2, I1] })).state.order).toEqual([I2, I1]);
    expect(run(s, ev("rank.changed", { tag: "fire", items: [I2, I1] })).state.order).toEqual([I1, I2]);
    expect(run(s, ev("tag.removed", { item_id: I1, tag: "FLOOD" })).effects).toEqual([{ kind: "loadItem", id: I1 }, { kind: "loadWorkspace" }]);
    expect(run(s, ev("tag.added", { item_id: I1, tag: "fire" })).effects).toEqual([{ kind: "loadItem", id: I1 }, { kind: "loadTags" }]);
    expect(run(s, ev("rule.created", { tag: "flood" })).effects).toContainEqual({ kind: "loadRules" });
    expect(run(s, ev("rule.created", { tag: "fire" })).effects).not.toContainEqual({ kind: "loadRules" });
  });

  test("guidance and the direction lock follow their events", () => {
    let s = run(emptyState(), ev("guidance.set", { lat: 1, lng: 2, message: "look", by: "o@x" }, S1)).state;
    expect(s.guidance.get(S1)).toEqual({ lat: 1, lng: 2, heading: null, message: "look", by: "o@x" });
    s = run(s, ev("guidance.cleared", {}, S1)).state;
    expect(s.guidance.has(S1)).toBe(false);
    s = run(s, ev("guidance.locked", { holder: { id: "u2", email: "op2@x" }, previous: { id: "u1", email: "op@x" }, takeover: true }, S1)).state;
    expect(s.locks.get(S1)).toEqual({ id: "u2", email: "op2@x" });
    s = run(s, ev("guidance.locked", { holder: null }, S1)).state;
    expect(s.locks.get(S1)).toBeNull();
  });

  test("export progress is tracked per export", () => {
    let s = run(emptyState(), ev("export.progress", { export_id: "e1", state: "building", progress: 0.25 })).state;
    s = run(s, ev("export.progress", { export_id: "e1", state: "failed", progress: 0.5, error: "storage down" })).state;
    expect(s.exports.get("e1")).toEqual({ id: "e1", state: "failed", progress: 0.5, error: "storage down" });
  });

  describe("alerts", () => {
    const HOSTILE = ['<img src=x onerror="alert(1)">', "<script>alert(1)</script>", "Robert'); DROP TABLE items;--", "\u202Eevil\u202C", "a\nb\tc"];
    const report = (over: Record<string, unknown> = {}) => ev("item.created", { item_id: I1, kind: "text", title: "Tree down", by: "r@x", tags: [], ...over });

    test("a new stream, a report and a rule's hit each raise one alert (newest first) and ask for the sound", () => {
      let s: State = { ...emptyState(), me: "op@x" };
      const a = run(s, ev("stream.created", { title: "bridge", owner: "r@x", tags: [] }, S1));
      expect(a.state.alerts).toEqual([
        { id: String(seq), kind: "stream", text: "Live stream by r@x: bridge", at: "2026-11-28T05:00:00.000Z", itemId: null, streamId: S1 },
      ]);
      expect(a.effects).toEqual([{ kind: "notify", alert: a.state.alerts[0]! }, { kind: "loadStream", id: S1 }, { kind: "reloadItems" }]);
      s = run(a.state, report()).state;
      s = mergeItems(s, [item({ id: I2, title: "Basement flooding" })]);
      const hit = run(s, ev("tag.added", { item_id: I2, tag: "flood", auto: true }));
      expect(hit.state.alerts.map((x) => [x.kind, x.text])).toEqual([
        ["rule", "Rule of flood matched: Basement flooding"],
        ["report", "Report from r@x: Tree down"],
        ["stream", "Live stream by r@x: bridge"],
      ]);
      expect(hit.effects).toContainEqual({ kind: "notify", alert: hit.state.alerts[0]! });
      expect(hit.effects).toContainEqual({ kind: "loadItem", id: I2 });
      // An unknown item still alerts, without its words.
      expect(run(emptyState(), ev("tag.added", { item_id: I2, tag: "flood", auto: true })).state.alerts[0]!.text).toBe("Rule of flood matched: an item");
    });

    test("a tag added by hand, a stream's own item and other events raise nothing", () => {
      for (const e of [
        ev("tag.added", { item_id: I1, tag: "flood", auto: false, by: "o@x" }),
        report({ kind: "stream" }),
        ev("item.updated", { item_id: I1, changes: { title: "x" } }),
        ev("stream.finished", {}, S1),
      ]) {
        const out = run(emptyState(), e);
        expect(out.state.alerts).toEqual([]);
        expect(out.effects.some((x) => x.kind === "notify")).toBe(false);
      }
    });

    test("only events of the open workspace alert (case-insensitively); with none open, all do", () => {
      const ws: State = { ...emptyState(), tag: "Flood" };
      expect(run(ws, report({ tags: ["fire"] })).state.alerts).toEqual([]);
      expect(run(ws, report({ tags: [] })).state.alerts).toEqual([]);
      expect(run(ws, report({ tags: "flood" })).state.alerts).toEqual([]);
      expect(run(ws, report({ tags: ["fire", "FLOOD"] })).state.alerts).toHaveLength(1);
      expect(run(ws, ev("stream.created", { title: "t", owner: "r@x", tags: ["flood"] }, S1)).state.alerts).toHaveLength(1);
      expect(run(ws, ev("stream.created", { title: "t", owner: "r@x", tags: ["fire"] }, S1)).state.alerts).toEqual([]);
      expect(run(ws, ev("tag.added", { item_id: I1, tag: "fire", auto: true })).state.alerts).toEqual([]);
      expect(run(ws, ev("tag.added", { item_id: I1, tag: "flood", auto: true })).state.alerts).toHaveLength(1);
      expect(run(emptyState(), report({ tags: ["fire"] })).state.alerts).toHaveLength(1);
    });

    test("one's own report alerts others, not oneself; the same event twice alerts once", () => {
      const me: State = { ...emptyState(), me: "R@X" };
      expect(run(me, report()).state.alerts).toEqual([]);
      expect(run(me, ev("stream.created", { title: "t", owner: "r@x", tags: [] }, S1)).state.alerts).toEqual([]);
      const e = report();
      const once = run(emptyState(), e);
      const twice = run(once.state, e);
      expect(twice.state.alerts).toHaveLength(1);
      expect(twice.effects).toEqual([{ kind: "loadItem", id: I1 }]);
    });

    test("muted: the list still fills, no sound is asked; dismiss removes one alert", () => {
      const muted = setMuted(emptyState(), true);
      const out = run(muted, report());
      expect(out.state.alerts).toHaveLength(1);
      expect(out.effects).toEqual([{ kind: "loadItem", id: I1 }]);
      expect(setMuted(muted, true)).toBe(muted);
      const two = run(run(emptyState(), report()).state, report({ item_id: I2 })).state;
      const left = dismissAlert(two, two.alerts[0]!.id);
      expect(left.alerts.map((a) => a.itemId)).toEqual([I1]);
      expect(dismissAllAlerts(two).alerts).toEqual([]);
      const none = dismissAllAlerts(two);
      expect(dismissAllAlerts(none)).toBe(none);
    });

    test("the list keeps the newest alerts only", () => {
      let s = emptyState();
      for (let k = 0; k < ALERTS_KEEP + 7; k++) s = run(s, report({ title: `r${k}` })).state;
      expect(s.alerts).toHaveLength(ALERTS_KEEP);
      expect(s.alerts[0]!.text).toBe(`Report from r@x: r${ALERTS_KEEP + 6}`);
      expect(s.alerts.at(-1)!.text).toBe("Report from r@x: r7");
    });

    test("hostile words stay the same characters (whitespace folded, long text cut), missing ones get a placeholder", () => {
      for (const h of HOSTILE) {
        const text = run(emptyState(), report({ title: h, by: h })).state.alerts[0]!.text;
        const folded = h.replace(/\s+/g, " ").trim();
        expect(text).toBe(`Report from ${folded}: ${folded}`);
      }
      expect(run(emptyState(), report({ title: "x".repeat(500) })).state.alerts[0]!.text.length).toBeLessThan(200);
      for (const bad of [null, 42, { toString: 1 }, ["a"]]) {
        expect(run(emptyState(), report({ title: bad, by: bad })).state.alerts[0]!.text).toBe("Report from a reporter: untitled");
        expect(run(emptyState(), ev("stream.created", { title: bad, owner: bad, tags: bad }, S1)).state.alerts[0]!.text).toBe(
          "Live stream by a reporter: untitled",
        );
      }
      expect(run(emptyState(), report({ kind: "photo", title: "" })).state.alerts[0]!.text).toBe("Photo from r@x: untitled");
    });
  });
});
