// Operator console: live grid (hls.js, low latency), map (markers, heading cones, tracks), items
// with tags and per-workspace ranking, guidance, "who can see this?", replay in sync with the map.
// Everything stays current through the server's event stream.

import "leaflet/dist/leaflet.css";
import { api, ApiError, el, me, request, signIn, type User } from "./lib/api.ts";
import { subscribe, type ServerEvent } from "./lib/events.ts";
import { bearing, compass, distance, formatDistance, onTarget, turn, whoCanSee, type LatLng } from "./lib/geo.ts";
import { ConsoleMap, drawAreas, Sketch, type MapMarker } from "./lib/map.ts";
import { attach, type Player } from "./lib/player.ts";

const $ = <T extends HTMLElement = HTMLElement>(sel: string) => document.querySelector(sel) as T;

interface StreamView {
  id: string;
  state: "live" | "finished" | "failed";
  title: string;
  owner: { id: string; email: string };
  lat: number | null;
  lng: number | null;
  heading: number | null;
  created_at: string;
  finished_at: string | null;
  segments: number;
  playlist_url: string;
  poster_url: string | null;
  recording: { url: string } | null;
  /** "cmaf": LL-HLS with parts (the player runs at the server's PART-HOLD-BACK). */
  format?: "classic" | "cmaf" | null;
}

interface ItemView {
  id: string;
  kind: "stream" | "text" | "photo" | "link";
  title: string;
  body: string;
  url: string | null;
  photo_url: string | null;
  stream: { id: string; state: string; poster_url: string | null; playlist_url: string } | null;
  author: { id: string; email: string };
  lat: number | null;
  lng: number | null;
  heading: number | null;
  created_at: string;
  tags: { name: string; rank: number; auto: boolean }[];
}

interface Sample extends LatLng {
  t: number;
  heading: number | null;
}

interface Guidance {
  lat: number | null;
  lng: number | null;
  heading: number | null;
  message: string;
}

interface Tile {
  el: HTMLElement;
  video: HTMLVideoElement;
  caption: HTMLElement;
  stats: HTMLElement;
  player: Player | null;
}

const state = {
  user: null as User | null,
  streams: new Map<string, StreamView>(),
  items: new Map<string, ItemView>(),
  tags: [] as { name: string; items: number; rules: number }[],
  tag: null as string | null,
  /** Item ids of the open workspace, in its shared order. */
  order: [] as string[],
  telemetry: new Map<string, Sample[]>(),
  guidance: new Map<string, Guidance>(),
  tiles: new Map<string, Tile>(),
  focus: null as string | null,
  focusPlayer: null as Player | null,
  replay: null as { streamId: string; track: Sample[]; timer: ReturnType<typeof setInterval> } | null,
  mode: "none" as "none" | "who" | "pick" | "draw",
  lastPoint: null as LatLng | null,
  whoPoint: null as LatLng | null,
  areas: [] as import("leaflet").Layer[],
  connected: false,
};

let map: ConsoleMap;
let sketch: Sketch;
const canCurate = () => state.user?.role === "operator" || state.user?.role === "admin";
const isAdmin = () => state.user?.role === "admin";

// ---------------- data ----------------

function mergeStream(s: StreamView): void {
  state.streams.set(s.id, s);
}

async function loadStream(id: string): Promise<void> {
  try {
    mergeStream(await api<StreamView>(`/api/v1/streams/${id}`));
  } catch {
    /* gone or hidden */
  }
}

async function loadItem(id: string): Promise<void> {
  try {
    state.items.set(id, await api<ItemView>(`/api/v1/items/${id}`));
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) state.items.delete(id);
  }
}

async function loadItems(): Promise<void> {
  const list = await api<ItemView[]>(`/api/v1/items?limit=500`);
  for (const i of list) state.items.set(i.id, i);
  if (state.tag) await loadWorkspace();
}

async function loadWorkspace(): Promise<void> {
  if (!state.tag) return;
  const tag = state.tag;
  try {
    const list = await api<ItemView[]>(`/api/v1/items?tag=${encodeURIComponent(tag)}&limit=1000`);
    if (state.tag !== tag) return;
    for (const i of list) state.items.set(i.id, i);
    state.order = list.map((i) => i.id);
  } catch {
    state.order = [];
  }
}

async function loadTags(): Promise<void> {
  state.tags = await api("/api/v1/tags");
}

async function loadTrack(streamId: string): Promise<Sample[]> {
  const rows = await api<{ t: string; lat: number; lng: number; heading: number | null }[]>(`/api/v1/streams/${streamId}/telemetry`);
  const track = rows.map((r) => ({ t: Date.parse(r.t), lat: r.lat, lng: r.lng, heading: r.heading }));
  state.telemetry.set(streamId, track);
  return track;
}

function itemOfStream(streamId: string): ItemView | undefined {
  for (const i of state.items.values()) if (i.stream?.id === streamId) return i;
  return undefined;
}

function inWorkspace(item: ItemView | undefined): boolean {
  return !state.tag || (!!item && item.tags.some((t) => t.name.toLowerCase() === state.tag!.toLowerCase()));
}

function lastSample(streamId: string): Sample | null {
  return state.telemetry.get(streamId)?.at(-1) ?? null;
}

function positionOf(streamId: string): (LatLng & { heading: number | null }) | null {
  const t = lastSample(streamId);
  if (t) return t;
  const s = state.streams.get(streamId);
  return s && s.lat !== null && s.lng !== null ? { lat: s.lat, lng: s.lng, heading: s.heading } : null;
}

// ---------------- events ----------------

let itemsReload: ReturnType<typeof setTimeout> | null = null;
function reloadItemsSoon(): void {
  if (itemsReload) return;
  itemsReload = setTimeout(async () => {
    itemsReload = null;
    await loadItems().catch(() => {});
    renderAll();
  }, 200);
}

async function onEvent(e: ServerEvent): Promise<void> {
  const sid = e.data.stream_id;
  switch (e.type) {
    case "stream.created":
      await loadStream(sid!);
      reloadItemsSoon();
      break;
    case "segment.created": {
      const s = state.streams.get(sid!);
      if (s) s.segments = Math.max(s.segments, 1 + (e.data.seq ?? 0));
      else await loadStream(sid!);
      break;
    }
    case "stream.reopened":
      // Finished for silence, then its reporter's late chunks came: live again.
      await loadStream(sid!);
      break;
    case "stream.finished":
    case "stream.failed":
    case "recording.ready":
      await loadStream(sid!);
      // A focused stream that ended becomes a replay (recording and map in sync).
      if (state.focus === sid && e.type !== "recording.ready") {
        state.focus = null;
        await focusOn(sid!);
      }
      break;
    case "poster.updated": {
      const s = state.streams.get(sid!);
      if (s) s.poster_url = `/api/v1/streams/${sid}/poster.jpg?v=${e.id}`;
      break;
    }
    case "telemetry": {
      const track = state.telemetry.get(sid!) ?? [];
      track.push({ t: Date.parse(e.data.t), lat: e.data.lat, lng: e.data.lng, heading: e.data.heading ?? null });
      if (track.length > 600) track.splice(0, track.length - 600);
      state.telemetry.set(sid!, track);
      const item = itemOfStream(sid!);
      if (item) Object.assign(item, { lat: e.data.lat, lng: e.data.lng, heading: e.data.heading ?? item.heading });
      break;
    }
    case "item.deleted":
      state.items.delete(e.data.item_id);
      state.order = state.order.filter((id) => id !== e.data.item_id);
      break;
    case "item.created":
    case "tag.added":
    case "tag.removed":
      await loadItem(e.data.item_id);
      if (e.type !== "item.created" && state.tag && e.data.tag?.toLowerCase() === state.tag.toLowerCase()) await loadWorkspace();
      if (e.type === "tag.added" && !state.tags.some((t) => t.name === e.data.tag)) await loadTags();
      break;
    case "tag.created":
      await loadTags();
      break;
    case "rank.changed":
      if (state.tag && e.data.tag?.toLowerCase() === state.tag.toLowerCase()) state.order = e.data.items as string[];
      break;
    case "rule.created":
    case "rule.deleted":
      await loadTags();
      if (state.tag && e.data.tag?.toLowerCase() === state.tag.toLowerCase()) await renderRules();
      break;
    case "guidance.set":
      state.guidance.set(sid!, { lat: e.data.lat ?? null, lng: e.data.lng ?? null, heading: e.data.heading ?? null, message: e.data.message ?? "" });
      break;
    case "guidance.cleared":
      state.guidance.delete(sid!);
      break;
  }
  scheduleRender();
}

let renderQueued = false;
function scheduleRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderAll();
  });
}

// ---------------- rendering ----------------

function age(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function renderAll(): void {
  renderTabs();
  renderGrid();
  renderItems();
  renderRecent();
  renderMap();
  renderFocus();
}

function renderTabs(): void {
  const nav = $("#workspaces");
  const want = [null, ...state.tags.map((t) => t.name)];
  const key = JSON.stringify([want, state.tag, state.tags.map((t) => t.items)]);
  if (nav.dataset.key === key) return;
  nav.dataset.key = key;
  nav.replaceChildren(
    ...want.map((name) => {
      const count = name === null ? "" : ` (${state.tags.find((t) => t.name === name)?.items ?? 0})`;
      const b = el("button", { type: "button", class: "tab", "aria-pressed": String(state.tag === name), "data-tag": name ?? "" }, name === null ? "All items" : `#${name}${count}`);
      b.addEventListener("click", () => void openWorkspace(name));
      return b;
    }),
  );
}

async function openWorkspace(tag: string | null): Promise<void> {
  state.tag = tag;
  state.order = [];
  history.replaceState(null, "", tag ? `#tag=${encodeURIComponent(tag)}` : location.pathname);
  if (tag) await loadWorkspace();
  await renderRules();
  renderAll();
}

function renderGrid(): void {
  const grid = $("#grid");
  const live = [...state.streams.values()].filter((s) => s.state === "live" && inWorkspace(itemOfStream(s.id))).sort((a, b) => a.created_at.localeCompare(b.created_at));
  $("#live-count").textContent = `(${live.length})`;
  $("#grid-empty").hidden = live.length > 0;
  const keep = new Set(live.map((s) => s.id));
  for (const [id, tile] of state.tiles) {
    if (!keep.has(id)) {
      tile.player?.destroy();
      tile.el.remove();
      state.tiles.delete(id);
    }
  }
  for (const s of live) {
    let tile = state.tiles.get(s.id);
    if (!tile) {
      const video = el("video", { muted: true, playsinline: true, autoplay: true, "aria-label": `Live video of ${s.owner.email}` }) as HTMLVideoElement;
      video.muted = true;
      const caption = el("span", { class: "who" });
      const stats = el("span", { class: "stats" });
      const button = el("button", { type: "button", class: "tile", "data-stream": s.id, "aria-label": `Focus the stream of ${s.owner.email}` }, video, el("span", { class: "caption" }, caption, stats));
      button.addEventListener("click", () => void focusOn(s.id));
      tile = { el: button, video, caption, stats, player: null };
      state.tiles.set(s.id, tile);
      grid.append(button);
    }
    tile.el.classList.toggle("focused", state.focus === s.id);
    if (s.poster_url && tile.video.poster !== new URL(s.poster_url, location.href).href) tile.video.poster = s.poster_url;
    if (!tile.player && s.segments > 0) tile.player = attach(tile.video, s.playlist_url, { live: true, parts: s.format === "cmaf" });
    tile.caption.textContent = `${s.owner.email}${s.title ? ` — ${s.title}` : ""}`;
  }
  updateTileStats();
}

function updateTileStats(): void {
  for (const [id, tile] of state.tiles) {
    const s = state.streams.get(id);
    if (!s) continue;
    const lat = tile.player?.latency();
    tile.stats.textContent = `live ${age(s.created_at)} · ${lat === null || lat === undefined ? (s.segments ? "buffering" : "waiting for video") : `latency ${lat.toFixed(1)} s`}`;
    tile.el.dataset.latency = lat === null || lat === undefined ? "" : lat.toFixed(2);
  }
}

const rows = new Map<string, { li: HTMLLIElement; title: HTMLButtonElement; meta: HTMLElement; tags: HTMLElement; key: string }>();

function itemLabel(i: ItemView): string {
  return i.title || i.body.slice(0, 60) || `${i.kind} by ${i.author.email}`;
}

function renderItems(): void {
  const list = $("#item-list");
  $("#items-title").textContent = state.tag ? `Workspace #${state.tag}` : "Items";
  $("#rank-hint").hidden = !state.tag || !canCurate();
  const items = state.tag ? state.order.map((id) => state.items.get(id)).filter((i): i is ItemView => !!i) : [...state.items.values()].sort((a, b) => b.created_at.localeCompare(a.created_at)).slice(0, 300);
  const keep = new Set(items.map((i) => i.id));
  for (const [id, r] of rows) if (!keep.has(id)) (r.li.remove(), rows.delete(id));
  items.forEach((i, idx) => {
    let r = rows.get(i.id);
    if (!r) {
      r = buildRow(i);
      rows.set(i.id, r);
    }
    const stream = i.stream ? state.streams.get(i.stream.id) : undefined;
    const key = JSON.stringify([i.title, i.body, i.tags, i.lat, i.lng, stream?.state, state.focus === i.id, state.tag, idx === 0, idx === items.length - 1]);
    if (r.key !== key) {
      r.key = key;
      r.title.textContent = itemLabel(i);
      r.li.classList.toggle("focused", state.focus === i.id || (!!i.stream && state.focus === i.stream.id));
      const where = i.lat !== null && i.lng !== null ? ` · ${i.lat.toFixed(4)}, ${i.lng.toFixed(4)}` : "";
      const st = i.kind === "stream" ? ` · ${stream?.state ?? i.stream?.state}` : "";
      r.meta.textContent = `${i.kind}${st} · ${i.author.email} · ${new Date(i.created_at).toLocaleTimeString()}${where}`;
      r.tags.replaceChildren(
        ...i.tags.map((t) => {
          const chip = el("span", { class: `chip${t.auto ? " auto" : ""}`, title: t.auto ? "added by a rule" : "" }, `#${t.name}`);
          if (canCurate()) {
            const x = el("button", { type: "button", class: "chip-x", "aria-label": `Remove tag ${t.name} from ${itemLabel(i)}` }, "×");
            x.addEventListener("click", () => void api(`/api/v1/items/${i.id}/tags/${encodeURIComponent(t.name)}`, { method: "DELETE" }).catch(alertError));
            chip.append(x);
          }
          return chip;
        }),
      );
      const up = r.li.querySelector<HTMLButtonElement>(".move-up");
      const down = r.li.querySelector<HTMLButtonElement>(".move-down");
      for (const b of [up, down]) if (b) b.hidden = !state.tag || !canCurate();
      if (up) up.disabled = idx === 0;
      if (down) down.disabled = idx === items.length - 1;
      r.li.draggable = !!state.tag && canCurate();
    }
    if (list.children[idx] !== r.li) list.insertBefore(r.li, list.children[idx] ?? null);
  });
}

function buildRow(i: ItemView): { li: HTMLLIElement; title: HTMLButtonElement; meta: HTMLElement; tags: HTMLElement; key: string } {
  const title = el("button", { type: "button", class: "item-title" }) as HTMLButtonElement;
  title.addEventListener("click", () => void focusOn(i.stream?.id ?? i.id));
  const meta = el("span", { class: "meta" });
  const tags = el("span", { class: "tags" });
  const li = el("li", { class: `item kind-${i.kind}`, "data-id": i.id }, el("span", { class: "kind", "aria-hidden": "true" }, { stream: "▶", text: "✎", photo: "▣", link: "↗" }[i.kind]), el("div", { class: "item-main" }, title, meta, tags)) as HTMLLIElement;
  if (canCurate()) {
    const form = el("form", { class: "add-tag" });
    const input = el("input", { name: "tag", maxlength: 64, placeholder: "tag", "aria-label": `Add tag to ${itemLabel(i)}` }) as HTMLInputElement;
    form.append(input, el("button", { type: "submit", "aria-label": `Add tag to ${itemLabel(i)} now` }, "+"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const tag = input.value.trim();
      if (!tag) return;
      input.value = "";
      void api(`/api/v1/items/${i.id}/tags`, { method: "POST", json: { tag } }).then((it: ItemView) => {
        state.items.set(it.id, it);
        scheduleRender();
      }, alertError);
    });
    const up = el("button", { type: "button", class: "move-up", "aria-label": `Move ${itemLabel(i)} up` }, "↑");
    const down = el("button", { type: "button", class: "move-down", "aria-label": `Move ${itemLabel(i)} down` }, "↓");
    up.addEventListener("click", () => move(i.id, -1));
    down.addEventListener("click", () => move(i.id, +1));
    li.append(el("div", { class: "item-tools" }, form, up, down));
    li.addEventListener("dragstart", (ev) => {
      ev.dataTransfer?.setData("text/plain", i.id);
      li.classList.add("dragging");
    });
    li.addEventListener("dragend", () => li.classList.remove("dragging"));
    li.addEventListener("dragover", (ev) => {
      if (state.tag) ev.preventDefault();
    });
    li.addEventListener("drop", (ev) => {
      ev.preventDefault();
      const dragged = ev.dataTransfer?.getData("text/plain");
      if (!dragged || dragged === i.id) return;
      const order = state.order.filter((id) => id !== dragged);
      const rect = li.getBoundingClientRect();
      const at = order.indexOf(i.id) + (ev.clientY > rect.top + rect.height / 2 ? 1 : 0);
      order.splice(at, 0, dragged);
      void saveOrder(order);
    });
  }
  return { li, title, meta, tags, key: "" };
}

function move(id: string, by: number): void {
  const order = [...state.order];
  const i = order.indexOf(id);
  const j = i + by;
  if (i < 0 || j < 0 || j >= order.length) return;
  [order[i], order[j]] = [order[j]!, order[i]!];
  void saveOrder(order);
}

async function saveOrder(order: string[]): Promise<void> {
  if (!state.tag) return;
  const before = state.order;
  state.order = order;
  renderItems();
  try {
    const r = await api<{ items: string[] }>(`/api/v1/tags/${encodeURIComponent(state.tag)}/order`, { method: "PUT", json: { items: order } });
    state.order = r.items;
  } catch (e) {
    state.order = before;
    alertError(e);
  }
  renderItems();
}

function renderRecent(): void {
  const ul = $("#recent");
  const done = [...state.streams.values()].filter((s) => s.state !== "live" && inWorkspace(itemOfStream(s.id))).sort((a, b) => b.created_at.localeCompare(a.created_at)).slice(0, 20);
  const key = JSON.stringify(done.map((s) => [s.id, s.state, !!s.recording]));
  if (ul.dataset.key === key) return;
  ul.dataset.key = key;
  ul.replaceChildren(
    ...done.map((s) => {
      const b = el("button", { type: "button", "aria-label": `Replay the stream of ${s.owner.email} from ${new Date(s.created_at).toLocaleTimeString()}` }, "Replay");
      b.addEventListener("click", () => void focusOn(s.id));
      return el("li", {}, b, ` ${s.owner.email} · ${new Date(s.created_at).toLocaleString()} · ${s.state}${s.recording ? "" : " (recording pending)"}`);
    }),
  );
}

function renderMap(): void {
  const markers: MapMarker[] = [];
  const focusStream = state.focus && state.streams.has(state.focus) ? state.focus : null;
  for (const i of state.items.values()) {
    if (!inWorkspace(i)) continue;
    if (i.stream) {
      const s = state.streams.get(i.stream.id);
      const p = positionOf(i.stream.id) ?? (i.lat !== null && i.lng !== null ? { lat: i.lat, lng: i.lng, heading: i.heading } : null);
      if (!p) continue;
      const live = (s?.state ?? i.stream.state) === "live";
      if (!live && focusStream !== i.stream.id && state.streams.size > 0 && s && Date.now() - Date.parse(s.finished_at ?? s.created_at) > 3_600_000) continue;
      markers.push({
        id: i.stream.id,
        pos: p,
        heading: live ? p.heading : null,
        kind: "stream",
        live,
        label: `${i.author.email}${live ? " (live)" : ""}`,
        track: live ? state.telemetry.get(i.stream.id)?.slice(-120) : undefined,
        focused: state.focus === i.stream.id,
      });
    } else if (i.lat !== null && i.lng !== null) {
      markers.push({ id: i.id, pos: { lat: i.lat, lng: i.lng }, heading: null, kind: i.kind, label: itemLabel(i), focused: state.focus === i.id });
    }
  }
  if (focusStream) {
    const g = state.guidance.get(focusStream);
    if (g && g.lat !== null && g.lng !== null) markers.push({ id: `target:${focusStream}`, pos: { lat: g.lat, lng: g.lng }, heading: null, kind: "target", label: `Target: ${g.message || "point"}` });
  }
  if (state.replay) {
    const p = replayPosition();
    if (p) markers.push({ id: "replay", pos: p, heading: p.heading, kind: "replay", label: "Replay position" });
  }
  if (state.whoPoint) markers.push({ id: "who-point", pos: state.whoPoint, heading: null, kind: "point", label: "Who can see this point?" });
  map.sync(markers);
}

// ---------------- focus, guidance, replay ----------------

async function focusOn(id: string): Promise<void> {
  if (state.focus !== id) {
    state.focusPlayer?.destroy();
    state.focusPlayer = null;
    if (state.replay) clearInterval(state.replay.timer);
    state.replay = null;
    state.focus = id;
    const video = $<HTMLVideoElement>("#focus-video");
    video.removeAttribute("src");
    video.load();
    const s = state.streams.get(id) ?? (await loadStream(id), state.streams.get(id));
    if (s) {
      if (s.state === "live") {
        if (s.segments > 0) state.focusPlayer = attach(video, s.playlist_url, { live: true, parts: s.format === "cmaf" });
      } else {
        // The track first: a frame on screen always has its position to show.
        const track = await loadTrack(s.id).catch(() => [] as Sample[]);
        if (state.focus !== id) return;
        state.replay = { streamId: s.id, track, timer: setInterval(() => renderReplay(), 250) };
        state.focusPlayer = attach(video, s.playlist_url, { live: false });
      }
      const p = positionOf(s.id);
      if (p) map.panTo(p);
    } else {
      const item = state.items.get(id);
      if (item && item.lat !== null && item.lng !== null) map.panTo({ lat: item.lat, lng: item.lng });
    }
  }
  renderAll();
}

function replayPosition(): (LatLng & { heading: number | null }) | null {
  const r = state.replay;
  const at = state.focusPlayer?.playingDate();
  if (!r || !r.track.length) return null;
  if (!at) return r.track[0]!;
  const t = at.getTime();
  // Last sample at or before the frame on screen (binary search).
  let lo = 0;
  let hi = r.track.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (r.track[mid]!.t <= t) lo = mid;
    else hi = mid - 1;
  }
  return r.track[lo]!;
}

function renderReplay(): void {
  const at = state.focusPlayer?.playingDate();
  const p = replayPosition();
  $("#focus-replay").textContent = at ? `Replay at ${at.toLocaleTimeString()}${p ? ` · ${p.lat.toFixed(5)}, ${p.lng.toFixed(5)}${p.heading !== null ? ` · heading ${Math.round(p.heading)}°` : ""}` : ""}` : "Replay: press play";
  $("#focus-replay").dataset.at = at ? String(at.getTime()) : "";
  renderMap();
}

function renderFocus(): void {
  const id = state.focus;
  $("#focus-empty").hidden = !!id;
  $("#focus").hidden = !id;
  if (!id) return;
  const s = state.streams.get(id);
  const item = s ? itemOfStream(id) : state.items.get(id);
  const video = $<HTMLVideoElement>("#focus-video");
  const photo = $<HTMLImageElement>("#focus-photo");
  video.hidden = !s;
  photo.hidden = !item?.photo_url;
  if (item?.photo_url && photo.getAttribute("src") !== item.photo_url) {
    photo.src = item.photo_url;
    photo.alt = itemLabel(item);
  }
  if (s && s.state === "live" && !state.focusPlayer && s.segments > 0) state.focusPlayer = attach(video, s.playlist_url, { live: true, parts: s.format === "cmaf" });
  const lat = s?.state === "live" ? state.focusPlayer?.latency() : null;
  $("#focus-title").textContent = s ? `${s.state === "live" ? "Live" : "Replay"}: ${s.owner.email}` : `Item: ${item ? itemLabel(item) : id}`;
  const p = s ? positionOf(s.id) : null;
  $("#focus-meta").textContent = s
    ? `${s.title || "untitled"} · started ${new Date(s.created_at).toLocaleTimeString()} (${age(s.created_at)} ago)${lat ? ` · latency ${lat.toFixed(1)} s` : ""}${p ? ` · ${p.lat.toFixed(5)}, ${p.lng.toFixed(5)}` : " · no position yet"}${p?.heading !== null && p?.heading !== undefined ? ` · heading ${Math.round(p.heading)}° ${compass(p.heading)}` : ""}`
    : item
      ? `${item.kind} · ${item.author.email} · ${new Date(item.created_at).toLocaleString()}`
      : "";
  const body = $("#focus-body");
  body.replaceChildren();
  if (item && !s) {
    body.append(item.body);
    if (item.url) body.append(" ", el("a", { href: item.url, target: "_blank", rel: "noopener noreferrer" }, item.url));
  }
  if (s?.recording) body.append(el("a", { href: s.recording.url, download: "" }, "Download recording (MP4)"));
  const form = $<HTMLFormElement>("#guidance-form");
  form.hidden = !(s && s.state === "live" && canCurate());
  if (!form.hidden) renderGuidanceStatus(s!.id);
  if (!state.replay) $("#focus-replay").textContent = "";
}

function renderGuidanceStatus(streamId: string): void {
  const g = state.guidance.get(streamId);
  const p = positionOf(streamId);
  const out = $("#guidance-status");
  if (!g) {
    out.textContent = "No guidance set.";
    out.dataset.onTarget = "";
    return;
  }
  let wanted = g.heading;
  let where = "";
  if (g.lat !== null && g.lng !== null && p) {
    wanted = bearing(p, { lat: g.lat, lng: g.lng });
    where = ` · target ${formatDistance(distance(p, { lat: g.lat, lng: g.lng }))} ${compass(wanted)}`;
  }
  const heading = p?.heading ?? null;
  const ok = onTarget(heading, wanted);
  out.dataset.onTarget = ok ? "yes" : "no";
  out.textContent = `${g.message ? `“${g.message}” · ` : ""}${ok ? "On target" : heading === null || wanted === null ? "waiting for the reporter's heading" : `off by ${Math.abs(Math.round(turn(heading, wanted)))}°`}${where}`;
}

async function sendGuidance(streamId: string, g: { lat?: number; lng?: number; heading?: number; message?: string }): Promise<void> {
  await api(`/api/v1/streams/${streamId}/guidance`, { method: "PUT", json: g });
}

// ---------------- who can see this? ----------------

function liveViewers() {
  const out: { id: string; lat: number; lng: number; heading: number | null; email: string }[] = [];
  for (const s of state.streams.values()) {
    if (s.state !== "live") continue;
    const p = positionOf(s.id);
    if (p) out.push({ id: s.id, lat: p.lat, lng: p.lng, heading: p.heading, email: s.owner.email });
  }
  return out;
}

function renderWho(point: LatLng): void {
  const results = whoCanSee(point, liveViewers());
  const box = $("#who-results");
  const seeing = results.filter((r) => r.sees);
  const others = results.filter((r) => !r.sees);
  const line = (r: (typeof results)[number]) => {
    const go = el("button", { type: "button", "aria-label": `Guide ${r.viewer.email} toward this point` }, "Guide");
    go.addEventListener("click", () => void sendGuidance(r.viewer.id, { lat: point.lat, lng: point.lng, message: "Point your camera here" }).then(() => (go.textContent = "Sent"), alertError));
    const what = r.sees ? `sees it, ${formatDistance(r.distance)} away` : `${formatDistance(r.distance)} away, bearing ${Math.round(r.bearing)}° ${compass(r.bearing)}${r.turn !== null ? `, must turn ${r.turn > 0 ? "right" : "left"} ${Math.abs(Math.round(r.turn))}°` : ""}`;
    return el("li", { "data-stream": r.viewer.id, "data-sees": String(r.sees) }, el("strong", {}, r.viewer.email), ` ${what} `, go);
  };
  const all = el("button", { type: "button" }, `Send guidance to ${results.length} reporter${results.length === 1 ? "" : "s"}`);
  all.disabled = results.length === 0;
  all.addEventListener("click", async () => {
    await Promise.all(results.map((r) => sendGuidance(r.viewer.id, { lat: point.lat, lng: point.lng, message: "Point your camera here" }))).catch(alertError);
    all.textContent = "Guidance sent";
  });
  box.replaceChildren(
    el("h3", {}, `Who can see ${point.lat.toFixed(5)}, ${point.lng.toFixed(5)}?`),
    el("p", { class: "meta" }, seeing.length ? `${seeing.length} live reporter${seeing.length === 1 ? "" : "s"} can see it now.` : "No live camera points at it now."),
    el("ul", { class: "who" }, ...seeing.map(line), ...others.map(line)),
    all,
  );
}

// ---------------- map modes ----------------

function setMode(mode: typeof state.mode): void {
  state.mode = state.mode === mode ? "none" : mode;
  $("#who-mode").setAttribute("aria-pressed", String(state.mode === "who"));
  $("#pick-target").setAttribute("aria-pressed", String(state.mode === "pick"));
  $("#draw-geofence").setAttribute("aria-pressed", String(state.mode === "draw"));
  $("#map-hint").textContent = { none: "", who: "Click a point on the map.", pick: "Click the target point on the map.", draw: "Click the corners of the area, then Save geofence." }[state.mode];
  if (state.mode !== "draw") {
    sketch.clear();
    $<HTMLButtonElement>("#save-geofence").disabled = true;
  }
}

function onMapClick(p: LatLng): void {
  state.lastPoint = p;
  if (state.mode === "who") {
    state.whoPoint = p;
    renderWho(p);
    renderMap();
  } else if (state.mode === "pick") {
    const f = $<HTMLFormElement>("#guidance-form");
    (f.elements.namedItem("lat") as HTMLInputElement).value = p.lat.toFixed(6);
    (f.elements.namedItem("lng") as HTMLInputElement).value = p.lng.toFixed(6);
    setMode("none");
  } else if (state.mode === "draw") {
    sketch.add(p);
    $<HTMLButtonElement>("#save-geofence").disabled = sketch.points.length < 3;
  }
}

async function renderRules(): Promise<void> {
  const box = $("#rules");
  box.hidden = !state.tag || !isAdmin();
  const rules = state.tag ? await api<{ id: string; kind: string; keyword: string | null; polygon: [number, number][] | null }[]>(`/api/v1/tags/${encodeURIComponent(state.tag)}/rules`).catch(() => []) : [];
  state.areas = drawAreas(map.map, rules.filter((r) => r.polygon).map((r) => r.polygon!.map(([lat, lng]) => ({ lat, lng }))), state.areas);
  if (box.hidden) return;
  $("#rules-tag").textContent = `#${state.tag}`;
  $("#rule-list").replaceChildren(
    ...rules.map((r) => {
      const del = el("button", { type: "button", class: "quiet", "aria-label": `Delete rule ${r.kind === "keyword" ? `keyword ${r.keyword}` : "geofence"}` }, "Delete");
      del.addEventListener("click", () => void api(`/api/v1/tags/${encodeURIComponent(state.tag!)}/rules/${r.id}`, { method: "DELETE" }).catch(alertError));
      return el("li", {}, r.kind === "keyword" ? `Keyword “${r.keyword}”` : `Geofence of ${r.polygon!.length} points`, " ", del);
    }),
  );
}

// ---------------- misc ----------------

function alertError(e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  $("#map-hint").textContent = `Error: ${msg}`;
  console.error(e);
}

async function showStatus(): Promise<void> {
  const s = await api("/api/v1/status");
  const rowsData: [string, string][] = [
    ["Node", `${s.node} (${s.roles.join(", ")})`],
    ["Postgres", s.postgres ? (s.postgres.reachable ? `up, ${s.postgres.latency_ms} ms` : `down: ${s.postgres.error}`) : "n/a"],
    ["Storage", s.storage ? (s.storage.reachable ? `${s.storage.kind}, ${s.storage.latency_ms} ms` : `down: ${s.storage.error}`) : "n/a"],
    ["Queue", s.queue ? `${s.queue.depth} waiting, ${s.queue.running} running, ${s.queue.failed} failed` : "n/a"],
    ["Live streams", s.ingest ? `${s.ingest.live_streams} (ingest lag p95 ${s.ingest.lag_p95_seconds ?? "–"} s)` : "n/a"],
    ["Requests", `${s.requests.total} (error rate ${(s.requests.error_rate * 100).toFixed(2)}%)`],
  ];
  $("#indicators").replaceChildren(...rowsData.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

async function invite(): Promise<void> {
  const dialog = $<HTMLDialogElement>("#invite-dialog");
  const input = $<HTMLInputElement>("#invite-url");
  try {
    const r = await api<{ token: string; url: string }>("/api/v1/invites", { method: "POST", json: {} });
    input.value = new URL(r.url, location.origin).href;
    $("#invite-text").textContent = "Send this link to the reporter; it signs them in and opens the camera page.";
  } catch (e) {
    input.value = "";
    $("#invite-text").textContent = e instanceof ApiError && e.status === 404 ? "Invites are not available on this server." : `Could not create an invite: ${(e as Error).message}`;
  }
  dialog.showModal();
}

async function start(user: User): Promise<void> {
  state.user = user;
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#who").textContent = `${user.email} (${user.role})`;
  for (const id of ["#logout", "#status-toggle"]) $(id).hidden = false;
  $("#invite").hidden = !canCurate();
  $("#admin-link").hidden = state.user?.role !== "admin";
  $<HTMLDetailsElement>("#new-item").hidden = user.role === "viewer";
  const cfg = await api<{ map_tile_url: string | null }>("/api/v1/ui-config").catch(() => ({ map_tile_url: null }));
  map = new ConsoleMap($("#map"), cfg.map_tile_url, (id) => void focusOn(id), onMapClick);
  sketch = new Sketch(map.map);
  // Subscribe first, then load: an event that lands in between is applied twice, never missed.
  subscribe(
    (e) => void onEvent(e),
    (ok) => {
      state.connected = ok;
      const c = $("#conn");
      c.dataset.state = ok ? "live" : "offline";
      c.textContent = ok ? "Connected" : "Reconnecting…";
    },
  );
  const [streams] = await Promise.all([api<StreamView[]>("/api/v1/streams?limit=200"), loadItems(), loadTags()]);
  streams.forEach(mergeStream);
  await Promise.all([...state.streams.values()].filter((s) => s.state === "live").map((s) => loadTrack(s.id).catch(() => [])));
  const tagOfHash = () => {
    const m = /^#tag=(.+)$/.exec(location.hash);
    return m ? decodeURIComponent(m[1]!) : null;
  };
  if (tagOfHash()) await openWorkspace(tagOfHash());
  window.addEventListener("hashchange", () => {
    if (tagOfHash() !== state.tag) void openWorkspace(tagOfHash());
  });
  renderAll();
  setInterval(() => {
    updateTileStats();
    if (state.focus) renderFocus();
  }, 1_000);
}

// ---------------- wiring ----------------

$("#logout").addEventListener("click", async () => {
  await request("/api/v1/auth/logout", { method: "POST" }).catch(() => {});
  location.reload();
});
$("#invite").addEventListener("click", () => void invite());
$("#invite-close").addEventListener("click", () => $<HTMLDialogElement>("#invite-dialog").close());
$("#invite-copy").addEventListener("click", () => void navigator.clipboard?.writeText($<HTMLInputElement>("#invite-url").value).catch(() => {}));
let statusTimer: ReturnType<typeof setInterval> | null = null;
$("#status-toggle").addEventListener("click", () => {
  const sec = $("#status");
  sec.hidden = !sec.hidden;
  $("#status-toggle").setAttribute("aria-expanded", String(!sec.hidden));
  if (statusTimer) clearInterval(statusTimer);
  if (!sec.hidden) {
    void showStatus().catch(alertError);
    statusTimer = setInterval(() => void showStatus().catch(() => {}), 2_000);
  }
});
$("#who-mode").addEventListener("click", () => {
  setMode("who");
  if (state.mode !== "who") {
    state.whoPoint = null;
    $("#who-results").replaceChildren();
    renderMap();
  }
});
$("#pick-target").addEventListener("click", () => setMode("pick"));
$("#draw-geofence").addEventListener("click", () => setMode("draw"));
$("#save-geofence").addEventListener("click", async () => {
  if (!state.tag || sketch.points.length < 3) return;
  await api(`/api/v1/tags/${encodeURIComponent(state.tag)}/rules`, { method: "POST", json: { kind: "geofence", polygon: sketch.points.map((p) => [p.lat, p.lng]) } }).catch(alertError);
  setMode("none");
});
$<HTMLFormElement>("#keyword-rule").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target as HTMLFormElement;
  const keyword = String(new FormData(f).get("keyword") ?? "").trim();
  if (!state.tag || !keyword) return;
  await api(`/api/v1/tags/${encodeURIComponent(state.tag)}/rules`, { method: "POST", json: { kind: "keyword", keyword } }).then(() => f.reset(), alertError);
});
$<HTMLFormElement>("#guidance-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!state.focus) return;
  const d = new FormData(ev.target as HTMLFormElement);
  const num = (k: string) => (String(d.get(k) ?? "").trim() === "" ? undefined : Number(d.get(k)));
  const g = { lat: num("lat"), lng: num("lng"), heading: num("heading"), message: String(d.get("message") ?? "").trim() || undefined };
  try {
    await sendGuidance(state.focus, g);
    $("#guidance-status").textContent = "Guidance sent.";
  } catch (e) {
    $("#guidance-status").textContent = `Not sent: ${(e as Error).message}`;
  }
});
$("#clear-guidance").addEventListener("click", () => void (state.focus && api(`/api/v1/streams/${state.focus}/guidance`, { method: "DELETE" }).catch(alertError)));
$<HTMLFormElement>("#item-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target as HTMLFormElement;
  const d = new FormData(f);
  const kind = String(d.get("kind"));
  const tags = String(d.get("tags") ?? "").split(",").map((t) => t.trim()).filter(Boolean);
  const at = d.get("at-point") && state.lastPoint ? { lat: state.lastPoint.lat, lng: state.lastPoint.lng } : {};
  if (state.tag && !tags.includes(state.tag)) tags.push(state.tag);
  const status = $("#item-status");
  try {
    let item: ItemView;
    if (kind === "photo") {
      const file = d.get("photo") as File | null;
      if (!file || !file.size) throw new Error("choose a photo file");
      const q = new URLSearchParams({ title: String(d.get("title") ?? "") });
      if ("lat" in at) q.set("lat", String(at.lat)), q.set("lng", String(at.lng));
      const res = await request(`/api/v1/items/photos?${q}`, { method: "POST", body: file, headers: { "content-type": file.type || "image/jpeg" }, timeoutMs: 60_000 });
      if (!res.ok) throw new Error(`refused (${res.status})`);
      item = await res.json();
      for (const t of tags) item = await api(`/api/v1/items/${item.id}/tags`, { method: "POST", json: { tag: t } });
    } else {
      item = await api<ItemView>("/api/v1/items", { method: "POST", json: { kind, title: String(d.get("title") ?? ""), body: String(d.get("body") ?? ""), ...(kind === "link" ? { url: String(d.get("url") ?? "") } : {}), tags, ...at } });
    }
    state.items.set(item.id, item);
    if (state.tag && !state.order.includes(item.id)) state.order.push(item.id);
    f.reset();
    status.textContent = "Created.";
    scheduleRender();
  } catch (e) {
    status.textContent = `Not created: ${(e as Error).message}`;
  }
});

// For tests and support: the console's state in numbers.
(window as unknown as { rterConsole: unknown }).rterConsole = {
  latency: (streamId: string) => state.tiles.get(streamId)?.player?.latency() ?? null,
  playingDate: (streamId: string) => state.tiles.get(streamId)?.player?.playingDate()?.getTime() ?? null,
  order: () => [...state.order],
  focusPlayingDate: () => state.focusPlayer?.playingDate()?.getTime() ?? null,
  replayPosition: () => replayPosition(),
};

void (async () => {
  const user = await me().catch(() => null);
  if (user) return start(user);
  $("#login").hidden = false;
  await start(await signIn($<HTMLFormElement>("#login"), $("#login-error")));
})();
