// The incident timeline: one wall clock for a window, a lane per stream (recorded spans, live
// span, gaps), items and guidance as marks. Scrubbing puts up to 4 streams on screen at that
// instant, in sync by PROGRAM-DATE-TIME, and the map shows where each reporter stood and looked.

import { api, el } from "../lib/api.ts";
import type { MapMarker } from "../lib/map.ts";
import { $, alertError, ui } from "./context.ts";
import { sampleAt } from "./clock.ts";
import type { Sample } from "./store.ts";
import { clockAt, startClock, syncStep, type Clock } from "./sync-clock.ts";
import { syncedPlayer, type SyncedPlayer } from "./sync-player.ts";
import { fetchTimelineAll, type TimelineAll } from "./timeline-pages.ts";
import type { Lane, Mark, TimelineView } from "./types.ts";

export const MAX_PLAYERS = 4;

const tl = {
  view: null as TimelineAll | null,
  /** The shared clock: wall-clock ms `base` at performance time `since`, running while playing and not held. */
  clock: { base: 0, since: 0, playing: false, held: false } as Clock,
  /** Since when the clock waits for a late player (sync-clock.ts). */
  holdSince: null as number | null,
  players: [] as SyncedPlayer[],
  tracks: new Map<string, Sample[]>(),
  timer: null as ReturnType<typeof setInterval> | null,
  active: false,
};

export function clockNow(): number {
  return clockAt(tl.clock, performance.now());
}

const pct = (t: number) => {
  const v = tl.view!;
  const from = Date.parse(v.from);
  return Math.max(0, Math.min(100, ((t - from) / (Date.parse(v.to) - from)) * 100));
};

/** Answers of an older window that arrive after a newer one was asked for are dropped. */
let generation = 0;

export async function loadTimeline(from: Date, to: Date): Promise<void> {
  const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
  if (ui.data.tag) q.set("tag", ui.data.tag);
  const status = $("#timeline-status");
  status.textContent = "Loading…";
  const mine = ++generation;
  try {
    const view = await fetchTimelineAll((query) => api<TimelineView>(`/api/v1/timeline?${query}`), q);
    if (mine !== generation) return;
    tl.view = view;
    tl.active = true;
    const n = (k: number, one: string) => `${k} ${one}${k === 1 ? "" : "s"}`;
    const cut = [view.lanesCut ? "more streams" : "", view.marksCut ? "more marks" : ""].filter(Boolean).join(" and ");
    status.textContent = `${n(view.lanes.length, "stream")}, ${n(view.marks.length, "mark")}${cut ? ` (${cut} in this window than shown: narrow it)` : ""}.`;
    status.dataset.lanes = String(view.lanes.length);
    status.dataset.marks = String(view.marks.length);
  } catch (e) {
    if (mine === generation) status.textContent = `Timeline refused: ${(e as Error).message}`;
    return;
  }
  const scrub = $<HTMLInputElement>("#timeline-scrub");
  scrub.min = String(from.getTime());
  scrub.max = String(to.getTime());
  scrub.step = "100";
  // A clock outside the new window (never set: the epoch) stands at its end until scrubbed.
  const t = clockNow();
  if (t < from.getTime() || t > to.getTime()) tl.clock = { base: to.getTime(), since: performance.now(), playing: false, held: false };
  renderTimeline();
}

function spanEl(cls: string, a: string, b: string, label: string): HTMLElement {
  const l = pct(Date.parse(a));
  const w = Math.max(0.3, pct(Date.parse(b)) - l);
  return el("span", { class: cls, style: `left:${l}%;width:${w}%`, title: label, "data-from": a, "data-to": b });
}

export function renderTimeline(): void {
  const v = tl.view;
  const box = $("#timeline-lanes");
  if (!v) return;
  const lanes = v.lanes.map((lane: Lane) =>
    el(
      "div",
      { class: "lane", "data-stream": lane.stream_id },
      el("span", { class: "lane-label" }, `${lane.reporter}${lane.title ? ` — ${lane.title}` : ""}`),
      el(
        "span",
        { class: "lane-bar" },
        ...lane.gaps.map((g) => spanEl("gap", g.from, g.to, "no media")),
        ...lane.spans.map((s) => spanEl(s.live ? "span live" : "span", s.from, s.to, s.live ? "live" : "recorded")),
      ),
    ),
  );
  const marks = el(
    "div",
    { class: "lane marks" },
    el("span", { class: "lane-label" }, "Items and guidance"),
    el(
      "span",
      { class: "lane-bar" },
      ...v.marks.map((m: Mark) => {
        const b = el("button", {
          type: "button",
          class: `mark ${m.type}`,
          style: `left:${pct(Date.parse(m.at))}%`,
          title: `${m.type === "item" ? (m.kind ?? "item") : "guidance"}: ${m.title}`,
          "aria-label": `${m.type} ${m.title} at ${new Date(m.at).toLocaleTimeString()}`,
        });
        b.addEventListener("click", () => void scrubTo(Date.parse(m.at)));
        return b;
      }),
    ),
  );
  box.replaceChildren(...lanes, marks, el("span", { class: "cursor", id: "timeline-cursor" }));
  renderCursor();
}

function renderCursor(): void {
  if (!tl.view) return;
  const t = clockNow();
  const cur = document.getElementById("timeline-cursor");
  if (cur) cur.style.left = `calc(var(--lane-label) + (100% - var(--lane-label)) * ${pct(t) / 100})`;
  const scrub = $<HTMLInputElement>("#timeline-scrub");
  if (document.activeElement !== scrub) scrub.value = String(Math.round(t));
  $("#timeline-at").textContent = new Date(t).toLocaleTimeString();
  $("#timeline-at").dataset.at = String(Math.round(t));
}

/** Lanes with media at t first (up to 4), in lane order. */
function lanesAt(t: number): Lane[] {
  const lanes = tl.view?.lanes ?? [];
  const has = (l: Lane) => l.spans.some((s) => Date.parse(s.from) <= t && t <= Date.parse(s.to));
  return lanes.filter(has).slice(0, MAX_PLAYERS);
}

export async function scrubTo(t: number): Promise<void> {
  // Standing at t while the players load (setPlaying below starts it from there).
  tl.clock = { base: t, since: performance.now(), playing: false, held: false };
  tl.holdSince = null;
  // The cursor moves now, not when the players have loaded.
  renderCursor();
  const want = lanesAt(t);
  const ids = new Set(want.map((l) => l.stream_id));
  for (const p of tl.players.filter((p) => !ids.has(p.streamId))) {
    p.destroy();
    p.video.closest(".sync-tile")?.remove();
  }
  tl.players = tl.players.filter((p) => ids.has(p.streamId));
  const grid = $("#timeline-players");
  await Promise.all(
    want.map(async (lane) => {
      const have = tl.players.find((p) => p.streamId === lane.stream_id);
      if (have) return have.seek(t);
      const video = el("video", { muted: true, playsinline: true, "aria-label": `Recording of ${lane.reporter} on the timeline` }) as HTMLVideoElement;
      const caption = el("span", { class: "caption" }, lane.reporter);
      grid.append(el("div", { class: "sync-tile", "data-stream": lane.stream_id }, video, caption));
      try {
        tl.players.push(await syncedPlayer(lane.stream_id, video, lane.playlist_url, t));
      } catch (e) {
        alertError(e);
      }
      if (!tl.tracks.has(lane.stream_id)) {
        const rows = await api<{ t: string; lat: number; lng: number; heading: number | null }[]>(`/api/v1/streams/${lane.stream_id}/telemetry`).catch(
          () => [],
        );
        tl.tracks.set(
          lane.stream_id,
          rows.map((r) => ({ t: Date.parse(r.t), lat: r.lat, lng: r.lng, heading: r.heading })),
        );
      }
    }),
  );
  setPlaying(true);
  ui.scheduleRender();
}

export function setPlaying(on: boolean): void {
  ({ clock: tl.clock, holdSince: tl.holdSince } = startClock(clockNow(), performance.now(), on));
  // The next tick plays them, once every player can show the instant (sync-clock.ts).
  for (const p of tl.players) p.video.pause();
  $("#timeline-play").textContent = on ? "Pause" : "Play";
  if (tl.timer) clearInterval(tl.timer);
  tl.timer = setInterval(tick, 250);
}

/** Keeps every player on the shared clock; a player loading, seeking or buffering holds it back (sync-clock.ts). */
function tick(): void {
  const now = performance.now();
  const t = clockNow();
  const states = tl.players.map((p) => ({
    ready: p.ready(),
    hasMedia: p.hasMediaAt(t),
    date: p.playingDate(),
    paused: p.video.paused,
  }));
  const step = syncStep(tl.clock, tl.holdSince, states, now);
  tl.clock = step.clock;
  tl.holdSince = step.holdSince;
  for (const i of step.pause) tl.players[i]!.video.pause();
  for (const i of step.seek) tl.players[i]!.seek(step.at);
  for (const i of step.play) void tl.players[i]!.video.play().catch(() => {});
  renderCursor();
  if (tl.players.length) ui.scheduleRender();
}

/** The map at the clock's instant: each reporter's position and cone, and items already created. */
export function timelineMarkers(): MapMarker[] {
  if (!tl.active || !tl.view) return [];
  const t = clockNow();
  const out: MapMarker[] = [];
  for (const lane of tl.view.lanes) {
    const s = sampleAt(tl.tracks.get(lane.stream_id) ?? [], t);
    if (s && s.t <= t)
      out.push({
        id: `tl:${lane.stream_id}`,
        pos: s,
        heading: s.heading,
        kind: "replay",
        live: true,
        label: `${lane.reporter} at ${new Date(t).toLocaleTimeString()}`,
      });
  }
  for (const m of tl.view.marks) {
    if (m.type === "item" && m.lat !== null && m.lng !== null && Date.parse(m.at) <= t)
      out.push({
        id: `tl-mark:${m.id}`,
        pos: { lat: m.lat, lng: m.lng },
        heading: null,
        kind: m.kind === "photo" ? "photo" : m.kind === "link" ? "link" : "text",
        label: m.title,
      });
  }
  return out;
}

/** "What every camera saw then": the timeline around an instant, scrubbed to it. */
export async function sawThen(t: number): Promise<void> {
  $("#timeline-panel").hidden = false;
  await loadTimeline(new Date(t - 10 * 60_000), new Date(Math.max(t + 5 * 60_000, Math.min(Date.now(), t + 60 * 60_000))));
  await scrubTo(t);
  $("#timeline-panel").scrollIntoView({ block: "nearest" });
}

export function closeTimeline(): void {
  for (const p of tl.players) p.destroy();
  tl.players = [];
  $("#timeline-players").replaceChildren();
  if (tl.timer) clearInterval(tl.timer);
  tl.timer = null;
  tl.active = false;
  tl.clock.playing = false;
  ui.scheduleRender();
}

/** For tests and support: where each lane's reporter stood at the clock's instant. */
export function timelinePositions(): Record<string, { lat: number; lng: number; heading: number | null }> {
  return Object.fromEntries(
    timelineMarkers()
      .filter((m) => m.id.startsWith("tl:"))
      .map((m) => [m.id.slice(3), { ...m.pos, heading: m.heading }]),
  );
}

/** For tests and support: the wall-clock time on screen of each timeline player. */
export function timelineDates(): Record<string, number | null> {
  return Object.fromEntries(tl.players.map((p) => [p.streamId, p.playingDate()]));
}

export function timelineWindowFromSelect(): [Date, Date] {
  const minutes = Number($<HTMLSelectElement>("#timeline-window").value) || 60;
  const to = new Date();
  return [new Date(to.getTime() - minutes * 60_000), to];
}
