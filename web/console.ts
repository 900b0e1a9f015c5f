// Operator console: live grid (hls.js, low latency), map (markers, heading cones, tracks), items
// with tags, per-workspace ranking, search and paging, guidance with the direction lock, "who can
// see this?", replay in sync with the map, comments and edits, evidence exports, and the incident
// timeline. Everything stays current through the server's event stream: each event goes through
// the store's pure reducer (console/store.ts); each view (console/*.ts) renders from its state.

import "leaflet/dist/leaflet.css";
import { api, ApiError, el, me, request, signIn, type User } from "./lib/api.ts";
import { signOut } from "./lib/oidc.ts";
import { subscribe } from "./lib/events.ts";
import { ConsoleMap, Sketch } from "./lib/map.ts";
import { alertCounts, notify, renderAlerts, setupAlerts } from "./console/alerts.ts";
import { $, alertError, canCurate, ui } from "./console/context.ts";
import { applied, effectHooks, loadItems, loadTags, loadTrack, onEvent } from "./console/data.ts";
import { requestExport, renderExport } from "./console/export.ts";
import { focusedItem, focusOn, postComment, release, renderFocus, replayPosition, saveEdit, sendGuidance, takeOver } from "./console/focus.ts";
import { renderGrid, updateTileStats } from "./console/grid.ts";
import { clearSearch, older, openWorkspace, renderItems, renderRecent, renderTabs, runSearch, searchParams } from "./console/items.ts";
import { loadRules, onMapClick, renderMap, setMode } from "./console/map-view.ts";
import { mergeItems, mergeStream } from "./console/store.ts";
import {
  clockNow,
  closeTimeline,
  loadTimeline,
  sawThen,
  scrubTo,
  setPlaying,
  timelineDates,
  timelinePositions,
  timelineWindowFromSelect,
} from "./console/timeline.ts";
import type { ItemView, StreamView } from "./console/types.ts";

function renderAll(): void {
  renderTabs();
  renderGrid();
  renderItems();
  renderRecent();
  renderMap();
  renderFocus();
  renderExport();
  renderAlerts();
}

let renderQueued = false;
ui.scheduleRender = () => {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderAll();
  });
};
effectHooks.refocus = (id) => focusOn(id, { again: true });
effectHooks.loadRules = loadRules;
effectHooks.notify = notify;
setupAlerts();

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
    $("#invite-text").textContent =
      e instanceof ApiError && e.status === 404 ? "Invites are not available on this server." : `Could not create an invite: ${(e as Error).message}`;
  }
  dialog.showModal();
}

async function start(user: User): Promise<void> {
  ui.user = user;
  ui.data = { ...ui.data, me: user.email };
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#who").textContent = `${user.email} (${user.role})`;
  for (const id of ["#logout", "#status-toggle"]) $(id).hidden = false;
  $("#invite").hidden = !canCurate();
  $("#admin-link").hidden = user.role !== "admin";
  $<HTMLDetailsElement>("#new-item").hidden = user.role === "viewer";
  for (const b of document.querySelectorAll<HTMLElement>(".staff-only")) b.hidden = !canCurate();
  const cfg = await api<{ map_tile_url: string | null; map_pmtiles_url?: string | null }>("/api/v1/ui-config").catch(() => ({
    map_tile_url: null,
    map_pmtiles_url: null,
  }));
  ui.map = new ConsoleMap($("#map"), cfg.map_tile_url, (id) => void focusOn(id.startsWith("tl:") ? id.slice(3) : id), onMapClick);
  if (cfg.map_pmtiles_url) ui.map.useArchive(cfg.map_pmtiles_url).catch(alertError);
  ui.sketch = new Sketch(ui.map.map);
  // Subscribe first, then load: an event that lands in between is applied twice, never missed.
  subscribe(
    (e) => void onEvent(e),
    (ok) => {
      ui.connected = ok;
      const c = $("#conn");
      c.dataset.state = ok ? "live" : "offline";
      c.textContent = ok ? "Connected" : "Reconnecting…";
    },
  );
  const [streams] = await Promise.all([api<StreamView[]>("/api/v1/streams?limit=200"), loadItems(), loadTags()]);
  for (const s of streams) ui.data = mergeStream(ui.data, s);
  await Promise.all([...ui.data.streams.values()].filter((s) => s.state === "live").map((s) => loadTrack(s.id).catch(() => [])));
  const tagOfHash = () => {
    const m = /^#tag=(.+)$/.exec(location.hash);
    return m ? decodeURIComponent(m[1]!) : null;
  };
  if (tagOfHash()) await openWorkspace(tagOfHash());
  window.addEventListener("hashchange", () => {
    if (tagOfHash() !== ui.data.tag) void openWorkspace(tagOfHash());
  });
  renderAll();
  setInterval(() => {
    updateTileStats();
    if (ui.data.focus) renderFocus();
  }, 1_000);
}

// ---------------- wiring ----------------

$("#logout").addEventListener("click", () => void signOut());
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
  if (ui.mode !== "who") {
    ui.whoPoint = null;
    $("#who-results").replaceChildren();
    renderMap();
  }
});
$("#pick-target").addEventListener("click", () => setMode("pick"));
$("#draw-geofence").addEventListener("click", () => setMode("draw"));
$("#save-geofence").addEventListener("click", async () => {
  const tag = ui.data.tag;
  if (!tag || ui.sketch.points.length < 3) return;
  await api(`/api/v1/tags/${encodeURIComponent(tag)}/rules`, {
    method: "POST",
    json: { kind: "geofence", polygon: ui.sketch.points.map((p) => [p.lat, p.lng]) },
  }).catch(alertError);
  setMode("none");
});
$<HTMLFormElement>("#keyword-rule").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target as HTMLFormElement;
  const keyword = String(new FormData(f).get("keyword") ?? "").trim();
  const tag = ui.data.tag;
  if (!tag || !keyword) return;
  await api(`/api/v1/tags/${encodeURIComponent(tag)}/rules`, { method: "POST", json: { kind: "keyword", keyword } }).then(() => f.reset(), alertError);
});
$<HTMLFormElement>("#guidance-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const focus = ui.data.focus;
  if (!focus) return;
  const d = new FormData(ev.target as HTMLFormElement);
  const num = (k: string) => (String(d.get(k) ?? "").trim() === "" ? undefined : Number(d.get(k)));
  const g = { lat: num("lat"), lng: num("lng"), heading: num("heading"), message: String(d.get("message") ?? "").trim() || undefined };
  try {
    await sendGuidance(focus, g);
    $("#guidance-status").textContent = "Guidance sent.";
  } catch (e) {
    $("#guidance-status").textContent = `Not sent: ${(e as Error).message}`;
  }
});
$("#clear-guidance").addEventListener(
  "click",
  () => void (ui.data.focus && api(`/api/v1/streams/${ui.data.focus}/guidance`, { method: "DELETE" }).catch(alertError)),
);
$("#lock-take").addEventListener("click", () => void takeOver());
$("#lock-release").addEventListener("click", () => void release());
$<HTMLFormElement>("#edit-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  void saveEdit(ev.target as HTMLFormElement);
});
$<HTMLFormElement>("#comment-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  void postComment(ev.target as HTMLFormElement);
});
$("#saw-then").addEventListener("click", () => {
  const item = focusedItem();
  // A replay: the frame on screen; an item: when it was reported.
  const at = (ui.replay ? ui.focusPlayer?.playingDate()?.getTime() : null) ?? (item ? Date.parse(item.created_at) : null);
  if (at) void sawThen(at);
});
$("#export-focus").addEventListener("click", () => {
  const id = ui.data.focus;
  if (!id) return;
  void requestExport(ui.data.streams.has(id) ? { streams: [id] } : { items: [id] });
});
$("#export-workspace").addEventListener("click", () => {
  if (ui.data.tag) void requestExport({ tag: ui.data.tag });
  else if (ui.search) void requestExport({ items: ui.search.ids.slice(0, 1000) });
});
$<HTMLFormElement>("#search-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  void runSearch(searchParams(ev.target as HTMLFormElement));
});
$("#search-clear").addEventListener("click", () => {
  $<HTMLFormElement>("#search-form").reset();
  clearSearch();
});
$("#search-map").addEventListener("click", () => {
  const f = $<HTMLFormElement>("#search-form");
  (f.elements.namedItem("bbox") as HTMLInputElement).checked = true;
  void runSearch(searchParams(f));
});
$("#load-older").addEventListener("click", () => void older());
$("#timeline-toggle").addEventListener("click", () => {
  const panel = $("#timeline-panel");
  panel.hidden = !panel.hidden;
  $("#timeline-toggle").setAttribute("aria-expanded", String(!panel.hidden));
  if (panel.hidden) closeTimeline();
  else void loadTimeline(...timelineWindowFromSelect());
});
$<HTMLFormElement>("#timeline-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  void loadTimeline(...timelineWindowFromSelect());
});
$<HTMLInputElement>("#timeline-scrub").addEventListener("change", (ev) => void scrubTo(Number((ev.target as HTMLInputElement).value)));
$("#timeline-play").addEventListener("click", () => setPlaying($("#timeline-play").textContent !== "Pause"));
$<HTMLFormElement>("#item-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target as HTMLFormElement;
  const d = new FormData(f);
  const kind = String(d.get("kind"));
  const tags = String(d.get("tags") ?? "")
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  const at = d.get("at-point") && ui.lastPoint ? { lat: ui.lastPoint.lat, lng: ui.lastPoint.lng } : {};
  if (ui.data.tag && !tags.includes(ui.data.tag)) tags.push(ui.data.tag);
  const status = $("#item-status");
  try {
    let item: ItemView;
    if (kind === "photo") {
      const file = d.get("photo") as File | null;
      if (!file || !file.size) throw new Error("choose a photo file");
      const q = new URLSearchParams({ title: String(d.get("title") ?? "") });
      if ("lat" in at) q.set("lat", String(at.lat)), q.set("lng", String(at.lng));
      const res = await request(`/api/v1/items/photos?${q}`, {
        method: "POST",
        body: file,
        headers: { "content-type": file.type || "image/jpeg" },
        timeoutMs: 60_000,
      });
      if (!res.ok) throw new Error(`refused (${res.status})`);
      item = await res.json();
      for (const t of tags) item = await api(`/api/v1/items/${item.id}/tags`, { method: "POST", json: { tag: t } });
    } else {
      item = await api<ItemView>("/api/v1/items", {
        method: "POST",
        json: {
          kind,
          title: String(d.get("title") ?? ""),
          body: String(d.get("body") ?? ""),
          ...(kind === "link" ? { url: String(d.get("url") ?? "") } : {}),
          tags,
          ...at,
        },
      });
    }
    ui.data = mergeItems(ui.data, [item]);
    if (ui.data.tag && !ui.data.order.includes(item.id)) ui.data = { ...ui.data, order: [...ui.data.order, item.id] };
    f.reset();
    status.textContent = "Created.";
    ui.scheduleRender();
  } catch (e) {
    status.textContent = `Not created: ${(e as Error).message}`;
  }
});

// For tests and support: the console's state in numbers.
(window as unknown as { rterConsole: unknown }).rterConsole = {
  latency: (streamId: string) => ui.tiles.get(streamId)?.player?.latency() ?? null,
  playingDate: (streamId: string) => ui.tiles.get(streamId)?.player?.playingDate()?.getTime() ?? null,
  order: () => [...ui.data.order],
  focusPlayingDate: () => ui.focusPlayer?.playingDate()?.getTime() ?? null,
  replayPosition: () => replayPosition(),
  timelineDates: () => timelineDates(),
  timelineClock: () => clockNow(),
  timelinePositions: () => timelinePositions(),
  itemCount: () => ui.data.items.size,
  events: () => ({ ...applied }),
  alerts: () => ui.data.alerts.map((a) => ({ kind: a.kind, text: a.text })),
  alertCounts: () => ({ ...alertCounts }),
  focus: () => ui.data.focus,
  mapArchive: () => ui.map?.archive ?? null,
};

void (async () => {
  const user = await me().catch(() => null);
  if (user) return start(user);
  $("#login").hidden = false;
  await start(await signIn($<HTMLFormElement>("#login"), $("#login-error")));
})();
