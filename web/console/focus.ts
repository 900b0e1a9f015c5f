// The focused stream or item: live player, or replay with the map in sync; guidance with the
// direction lock; the item's comments (live) and its title/body edit; export of what is focused.

import { api, ApiError, el } from "../lib/api.ts";
import { bearing, compass, distance, formatDistance, onTarget, turn, type LatLng } from "../lib/geo.ts";
import { attach } from "../lib/player.ts";
import { $, age, canCurate, itemLabel, positionOf, ui } from "./context.ts";
import { loadStream, loadTrack } from "./data.ts";
import { renderMap } from "./map-view.ts";
import { sampleAt } from "./clock.ts";
import { itemOfStream, mergeComments, mergeItems, type Holder, type Sample } from "./store.ts";
import type { CommentView, ItemView, LockView } from "./types.ts";

export async function focusOn(id: string, opts: { again?: boolean } = {}): Promise<void> {
  if (ui.data.focus !== id || opts.again) {
    ui.focusPlayer?.destroy();
    ui.focusPlayer = null;
    if (ui.replay) clearInterval(ui.replay.timer);
    ui.replay = null;
    ui.data = { ...ui.data, focus: id };
    const video = $<HTMLVideoElement>("#focus-video");
    video.removeAttribute("src");
    video.load();
    // An id is a stream's or an item's; a known item that is not a stream is not asked for as one.
    const known = ui.data.items.get(id);
    const s = ui.data.streams.get(id) ?? (known && !known.stream ? undefined : (await loadStream(id), ui.data.streams.get(id)));
    if (s) {
      if (s.state === "live") {
        if (s.segments > 0) ui.focusPlayer = attach(video, s.playlist_url, { live: true, parts: s.format === "cmaf" });
        if (canCurate()) void loadLock(s.id);
      } else {
        // The track first: a frame on screen always has its position to show.
        const track = await loadTrack(s.id).catch(() => [] as Sample[]);
        if (ui.data.focus !== id) return;
        ui.replay = { streamId: s.id, track, timer: setInterval(() => renderReplay(), 250) };
        ui.focusPlayer = attach(video, s.playlist_url, { live: false });
      }
      const p = positionOf(s.id);
      if (p) ui.map.panTo(p);
    } else {
      const item = ui.data.items.get(id);
      if (item && item.lat !== null && item.lng !== null) ui.map.panTo({ lat: item.lat, lng: item.lng });
    }
    const item = focusedItem();
    if (item) void loadComments(item.id);
  }
  ui.scheduleRender();
}

export function focusedItem(): ItemView | undefined {
  const id = ui.data.focus;
  if (!id) return undefined;
  return ui.data.streams.has(id) ? itemOfStream(ui.data, id) : ui.data.items.get(id);
}

export function replayPosition(): (LatLng & { heading: number | null }) | null {
  const r = ui.replay;
  const at = ui.focusPlayer?.playingDate();
  if (!r || !r.track.length) return null;
  if (!at) return r.track[0]!;
  return sampleAt(r.track, at.getTime());
}

function renderReplay(): void {
  const at = ui.focusPlayer?.playingDate();
  const p = replayPosition();
  $("#focus-replay").textContent = at
    ? `Replay at ${at.toLocaleTimeString()}${p ? ` · ${p.lat.toFixed(5)}, ${p.lng.toFixed(5)}${p.heading !== null ? ` · heading ${Math.round(p.heading)}°` : ""}` : ""}`
    : "Replay: press play";
  $("#focus-replay").dataset.at = at ? String(at.getTime()) : "";
  renderMap();
}

export function renderFocus(): void {
  const id = ui.data.focus;
  $("#focus-empty").hidden = !!id;
  $("#focus").hidden = !id;
  if (!id) return;
  const s = ui.data.streams.get(id);
  const item = focusedItem();
  const video = $<HTMLVideoElement>("#focus-video");
  const photo = $<HTMLImageElement>("#focus-photo");
  video.hidden = !s;
  photo.hidden = !item?.photo_url;
  if (item?.photo_url && photo.getAttribute("src") !== item.photo_url) {
    photo.src = item.photo_url;
    photo.alt = itemLabel(item);
  }
  if (s && s.state === "live" && !ui.focusPlayer && s.segments > 0) ui.focusPlayer = attach(video, s.playlist_url, { live: true, parts: s.format === "cmaf" });
  const lat = s?.state === "live" ? ui.focusPlayer?.latency() : null;
  renderLiveNotice(s?.state === "live" ? s.segments : null, lat, video);
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
  if (!form.hidden) {
    renderGuidanceStatus(s!.id);
    renderLock(s!.id);
  }
  if (!ui.replay) $("#focus-replay").textContent = "";
  renderEdit(item);
  renderComments(item);
}

/**
 * What the focused live video shows while it has no picture: "waiting" until the first part or
 * segment (the player is attached only then), "buffering" until a frame plays. An empty player
 * has no controls: there is nothing to play or seek yet. `segments` is null when no live stream
 * is focused.
 */
function renderLiveNotice(segments: number | null, lat: number | null | undefined, video: HTMLVideoElement): void {
  const media = video.parentElement as HTMLElement;
  const notice = $("#focus-notice");
  // A frame on screen counts even without a wall clock to measure latency by (a player without PROGRAM-DATE-TIME).
  const playing = (lat !== null && lat !== undefined) || (segments !== null && segments > 0 && video.readyState >= 2 && video.currentTime > 0);
  const state = segments === null ? "" : playing ? "playing" : segments > 0 ? "buffering" : "waiting";
  if (media.dataset.state !== state) media.dataset.state = state;
  const text = state === "waiting" ? "Waiting for video: the reporter is live, no picture has arrived yet" : state === "buffering" ? "Buffering…" : "";
  if (notice.textContent !== text) notice.textContent = text;
  notice.hidden = text === "";
  video.controls = state !== "waiting";
}

function renderGuidanceStatus(streamId: string): void {
  const g = ui.data.guidance.get(streamId);
  const p = positionOf(streamId);
  const out = $("#guidance-status");
  if (out.dataset.sticky && Date.now() < Number(out.dataset.sticky)) return;
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

export async function sendGuidance(streamId: string, g: { lat?: number; lng?: number; heading?: number; message?: string }): Promise<void> {
  try {
    await api(`/api/v1/streams/${streamId}/guidance`, { method: "PUT", json: g });
  } catch (e) {
    // Refused because another operator guides: show who (the lock's own state arrives by event too).
    if (e instanceof ApiError && e.status === 409) void loadLock(streamId);
    throw e;
  }
}

// ---------------- direction lock ----------------

async function loadLock(streamId: string): Promise<void> {
  try {
    const l = await api<LockView>(`/api/v1/streams/${streamId}/guidance/lock`);
    ui.data = { ...ui.data, locks: new Map(ui.data.locks).set(streamId, l.holder) };
    ui.scheduleRender();
  } catch {
    /* the stream went away; the next render hides the form */
  }
}

function renderLock(streamId: string): void {
  const holder: Holder | null | undefined = ui.data.locks.get(streamId);
  const mine = !!holder && holder.id === ui.user?.id;
  const status = $("#lock-status");
  status.dataset.holder = holder?.email ?? "";
  status.textContent =
    holder === undefined
      ? ""
      : !holder
        ? "Nobody guides this reporter; sending guidance takes the direction lock."
        : mine
          ? "You guide this reporter (you hold the direction lock)."
          : `${holder.email} guides this reporter.`;
  $("#lock-take").hidden = !holder || mine;
  $("#lock-release").hidden = !mine;
  for (const b of $<HTMLFormElement>("#guidance-form").querySelectorAll<HTMLButtonElement>("button[type=submit], #clear-guidance"))
    b.disabled = !!holder && !mine;
}

export async function takeOver(): Promise<void> {
  const id = ui.data.focus;
  if (!id) return;
  try {
    const l = await api<LockView>(`/api/v1/streams/${id}/guidance/lock`, { method: "PUT", json: { takeover: true } });
    ui.data = { ...ui.data, locks: new Map(ui.data.locks).set(id, l.holder) };
  } catch (e) {
    $("#lock-status").textContent = `Not taken over: ${(e as Error).message}`;
  }
  ui.scheduleRender();
}

export async function release(): Promise<void> {
  const id = ui.data.focus;
  if (!id) return;
  await api(`/api/v1/streams/${id}/guidance/lock`, { method: "DELETE" }).catch(() => {});
  await loadLock(id);
}

// ---------------- edit ----------------

function renderEdit(item: ItemView | undefined): void {
  const form = $<HTMLFormElement>("#edit-form");
  form.hidden = !item || !canCurate();
  if (!item || form.hidden) return;
  const title = form.elements.namedItem("title") as HTMLInputElement;
  const body = form.elements.namedItem("body") as HTMLTextAreaElement;
  // Refill when another item is focused or someone else edited it, unless this operator is typing.
  const key = JSON.stringify([item.id, item.title, item.body]);
  if (form.dataset.key === key) return;
  if (form.dataset.item === item.id && form.contains(document.activeElement)) return;
  form.dataset.key = key;
  if (form.dataset.item !== item.id) $("#edit-status").textContent = "";
  form.dataset.item = item.id;
  title.value = item.title;
  body.value = item.body;
}

export async function saveEdit(form: HTMLFormElement): Promise<void> {
  const id = form.dataset.item;
  const status = $("#edit-status");
  if (!id) return;
  const d = new FormData(form);
  try {
    const it = await api<ItemView>(`/api/v1/items/${id}`, {
      method: "PATCH",
      json: { title: String(d.get("title") ?? ""), body: String(d.get("body") ?? "") },
    });
    ui.data = mergeItems(ui.data, [it]);
    status.textContent = "Saved.";
    status.dataset.refused = "";
  } catch (e) {
    // A held item refuses: the server says why (legal hold), shown as it is.
    status.textContent = `Not saved: ${(e as Error).message}`;
    status.dataset.refused = e instanceof ApiError ? String(e.status) : "error";
  }
  ui.scheduleRender();
}

// ---------------- comments ----------------

async function loadComments(itemId: string): Promise<void> {
  try {
    const list = await api<CommentView[]>(`/api/v1/items/${itemId}/comments?limit=500`);
    ui.data = mergeComments(ui.data, itemId, list);
    ui.scheduleRender();
  } catch {
    /* hidden or gone */
  }
}

function renderComments(item: ItemView | undefined): void {
  const box = $("#comments");
  box.hidden = !item || ui.user?.role === "viewer";
  if (!item || box.hidden) return;
  const list = ui.data.comments.get(item.id) ?? [];
  const ol = $("#comment-list");
  const key = JSON.stringify([item.id, list.map((c) => c.id)]);
  if (ol.dataset.key === key) return;
  ol.dataset.key = key;
  $<HTMLFormElement>("#comment-form").dataset.item = item.id;
  ol.replaceChildren(
    ...list.map((c) =>
      el(
        "li",
        { "data-id": c.id },
        el("span", { class: "meta" }, `${c.author.email} · ${new Date(c.created_at).toLocaleTimeString()}`),
        el("p", { class: "comment-body" }, c.body),
      ),
    ),
  );
  if (!list.length) ol.append(el("li", { class: "meta" }, "No comments yet."));
}

export async function postComment(form: HTMLFormElement): Promise<void> {
  const id = form.dataset.item;
  const input = form.elements.namedItem("body") as HTMLTextAreaElement;
  const text = input.value.trim();
  if (!id || !text) return;
  try {
    const c = await api<CommentView>(`/api/v1/items/${id}/comments`, { method: "POST", json: { body: text } });
    ui.data = mergeComments(ui.data, id, [c]);
    input.value = "";
    $("#comment-status").textContent = "";
  } catch (e) {
    $("#comment-status").textContent = `Not sent: ${(e as Error).message}`;
  }
  ui.scheduleRender();
}
