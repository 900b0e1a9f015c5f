// Fetches that fill the store, and the event loop: each server event goes through the pure
// reducer, then the effects it asks for are run here.

import { api, ApiError, request } from "../lib/api.ts";
import { ui } from "./context.ts";
import { apply, dropItem, mergeItems, mergeStream, setTrack, type Alert, type Effect, type Sample } from "./store.ts";
import type { ItemView, ServerEvent, StreamView } from "./types.ts";

export const PAGE = 500;

export async function loadStream(id: string): Promise<void> {
  try {
    // Fetch first, then merge into the state as it is now (not as it was before the await).
    const stream = await api<StreamView>(`/api/v1/streams/${id}`);
    ui.data = mergeStream(ui.data, stream);
  } catch {
    /* gone or hidden */
  }
}

export async function loadItem(id: string): Promise<void> {
  try {
    const item = await api<ItemView>(`/api/v1/items/${id}`);
    ui.data = mergeItems(ui.data, [item]);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) ui.data = dropItem(ui.data, id);
  }
}

/**
 * One page of items, newest first, with the cursor of the next (older) page. The plain listing
 * has no cursor, so the console asks for the equivalent search (everything created since 1970),
 * which pages by keyset in X-Next-Cursor.
 */
export async function itemsPage(params: URLSearchParams, cursor: string | null): Promise<{ items: ItemView[]; next: string | null }> {
  const q = new URLSearchParams(params);
  q.set("limit", String(PAGE));
  if (cursor) q.set("cursor", cursor);
  const res = await request(`/api/v1/items?${q}`);
  if (!res.ok) throw new ApiError(res.status, (await res.json().catch(() => null))?.detail ?? res.statusText);
  return { items: (await res.json()) as ItemView[], next: res.headers.get("x-next-cursor") };
}

export const ALL_ITEMS = () => new URLSearchParams({ from: "1970-01-01T00:00:00.000Z" });

/** The newest page (again, after a reload); older pages already shown stay. */
export async function loadItems(): Promise<void> {
  const first = await itemsPage(ALL_ITEMS(), null);
  ui.data = mergeItems(ui.data, first.items);
  // Until an older page is shown, "older" starts after the newest page as it is now; after that
  // the cursor moves only with "load older" (items created since arrive one by one by events).
  if (!olderLoaded) ui.olderCursor = first.next;
  if (ui.data.tag) await loadWorkspace();
}
let olderLoaded = false;

export async function loadOlder(): Promise<number> {
  if (!ui.olderCursor) return 0;
  const page = await itemsPage(ALL_ITEMS(), ui.olderCursor);
  olderLoaded = true;
  ui.data = mergeItems(ui.data, page.items);
  ui.olderCursor = page.next;
  return page.items.length;
}

export async function loadWorkspace(): Promise<void> {
  const tag = ui.data.tag;
  if (!tag) return;
  try {
    const list = await api<ItemView[]>(`/api/v1/items?tag=${encodeURIComponent(tag)}&limit=1000`);
    if (ui.data.tag !== tag) return;
    ui.data = { ...mergeItems(ui.data, list), order: list.map((i) => i.id) };
  } catch {
    ui.data = { ...ui.data, order: [] };
  }
}

export async function loadTags(): Promise<void> {
  ui.tags = await api("/api/v1/tags");
}

export async function loadTrack(streamId: string): Promise<Sample[]> {
  const rows = await api<{ t: string; lat: number; lng: number; heading: number | null }[]>(`/api/v1/streams/${streamId}/telemetry`);
  const track = rows.map((r) => ({ t: Date.parse(r.t), lat: r.lat, lng: r.lng, heading: r.heading }));
  ui.data = setTrack(ui.data, streamId, track);
  return track;
}

let itemsReload: ReturnType<typeof setTimeout> | null = null;
function reloadItemsSoon(): void {
  if (itemsReload) return;
  itemsReload = setTimeout(async () => {
    itemsReload = null;
    await loadItems().catch(() => {});
    ui.scheduleRender();
  }, 200);
}

/** What the shell does for the reducer; the focus and rules hooks come from their views. */
export const effectHooks = { refocus: async (_id: string) => {}, loadRules: async () => {}, notify: (_alert: Alert) => {} };

async function run(e: Effect): Promise<void> {
  switch (e.kind) {
    case "loadStream":
      return loadStream(e.id);
    case "loadItem":
      return loadItem(e.id);
    case "loadTags":
      return loadTags().catch(() => {});
    case "loadWorkspace":
      return loadWorkspace();
    case "reloadItems":
      return reloadItemsSoon();
    case "loadRules":
      return effectHooks.loadRules();
    case "refocus":
      return effectHooks.refocus(e.id);
    case "notify":
      return effectHooks.notify(e.alert);
  }
}

/** For support: how many events of each kind this console applied. */
export const applied: Record<string, number> = {};

export async function onEvent(e: ServerEvent): Promise<void> {
  applied[e.type] = (applied[e.type] ?? 0) + 1;
  const out = apply(ui.data, e);
  ui.data = out.state;
  ui.scheduleRender();
  for (const eff of out.effects) await run(eff).catch((err) => console.error("effect failed", eff, err));
  if (out.effects.length) ui.scheduleRender();
}
