// What the views share: the store's state (replaced, never mutated, by the reducer and the
// merge helpers) and the page's own things (players, map, modes). One object, so every view
// reads the same current values.

import type { User } from "../lib/api.ts";
import type { LatLng } from "../lib/geo.ts";
import type { ConsoleMap, Sketch } from "../lib/map.ts";
import type { Player } from "../lib/player.ts";
import { emptyState, type Sample, type State } from "./store.ts";
import type { ItemView } from "./types.ts";

export interface Tile {
  el: HTMLElement;
  video: HTMLVideoElement;
  caption: HTMLElement;
  stats: HTMLElement;
  /** Over the picture while there is none: waiting for the reporter's first video, or buffering. */
  notice: HTMLElement;
  player: Player | null;
}

export interface SearchState {
  params: URLSearchParams;
  ids: string[];
  cursor: string | null;
  busy: boolean;
}

export const ui = {
  user: null as User | null,
  data: emptyState() as State,
  tags: [] as { name: string; items: number; rules: number }[],
  tiles: new Map<string, Tile>(),
  focusPlayer: null as Player | null,
  replay: null as { streamId: string; track: Sample[]; timer: ReturnType<typeof setInterval> } | null,
  mode: "none" as "none" | "who" | "pick" | "draw",
  lastPoint: null as LatLng | null,
  whoPoint: null as LatLng | null,
  areas: [] as import("leaflet").Layer[],
  connected: false,
  /** Keyset paging of "All items": where the next older page starts (null: nothing older). */
  olderCursor: null as string | null,
  /** A search replaces the list while it is open. */
  search: null as SearchState | null,
  map: null as unknown as ConsoleMap,
  sketch: null as unknown as Sketch,
  /** Set by console.ts: re-render everything on the next frame. */
  scheduleRender: () => {},
};

export const $ = <T extends HTMLElement = HTMLElement>(sel: string) => document.querySelector(sel) as T;
export const canCurate = () => ui.user?.role === "operator" || ui.user?.role === "admin";
export const isAdmin = () => ui.user?.role === "admin";

export function alertError(e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  $("#map-hint").textContent = `Error: ${msg}`;
  console.error(e);
}

export function age(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function itemLabel(i: ItemView): string {
  return i.title || i.body.slice(0, 60) || `${i.kind} by ${i.author.email}`;
}

export function inWorkspace(item: ItemView | undefined): boolean {
  const tag = ui.data.tag;
  return !tag || (!!item && item.tags.some((t) => t.name.toLowerCase() === tag.toLowerCase()));
}

export function positionOf(streamId: string): (LatLng & { heading: number | null }) | null {
  const t = ui.data.telemetry.get(streamId)?.at(-1);
  if (t) return t;
  const s = ui.data.streams.get(streamId);
  return s && s.lat !== null && s.lng !== null ? { lat: s.lat, lng: s.lng, heading: s.heading } : null;
}
