// The live grid: one low-latency player per live stream of the open workspace.

import { el } from "../lib/api.ts";
import { attach } from "../lib/player.ts";
import { $, age, inWorkspace, ui } from "./context.ts";
import { focusOn } from "./focus.ts";
import { itemOfStream } from "./store.ts";

export function renderGrid(): void {
  const grid = $("#grid");
  const live = [...ui.data.streams.values()]
    .filter((s) => s.state === "live" && inWorkspace(itemOfStream(ui.data, s.id)))
    .sort((a, b) => a.created_at.localeCompare(b.created_at));
  $("#live-count").textContent = `(${live.length})`;
  $("#grid-empty").hidden = live.length > 0;
  const keep = new Set(live.map((s) => s.id));
  for (const [id, tile] of ui.tiles) {
    if (!keep.has(id)) {
      tile.player?.destroy();
      tile.el.remove();
      ui.tiles.delete(id);
    }
  }
  for (const s of live) {
    let tile = ui.tiles.get(s.id);
    if (!tile) {
      const video = el("video", { muted: true, playsinline: true, autoplay: true, "aria-label": `Live video of ${s.owner.email}` }) as HTMLVideoElement;
      video.muted = true;
      const caption = el("span", { class: "who" });
      const stats = el("span", { class: "stats" });
      const notice = el("span", { class: "notice" });
      const button = el(
        "button",
        { type: "button", class: "tile", "data-stream": s.id, "aria-label": `Focus the stream of ${s.owner.email}` },
        video,
        notice,
        el("span", { class: "caption" }, caption, stats),
      );
      button.addEventListener("click", () => void focusOn(s.id));
      tile = { el: button, video, caption, stats, notice, player: null };
      ui.tiles.set(s.id, tile);
      grid.append(button);
    }
    tile.el.classList.toggle("focused", ui.data.focus === s.id);
    if (s.poster_url && tile.video.poster !== new URL(s.poster_url, location.href).href) tile.video.poster = s.poster_url;
    if (!tile.player && s.segments > 0) tile.player = attach(tile.video, s.playlist_url, { live: true, parts: s.format === "cmaf" });
    tile.caption.textContent = `${s.owner.email}${s.title ? ` — ${s.title}` : ""}`;
  }
  updateTileStats();
}

export function updateTileStats(): void {
  for (const [id, tile] of ui.tiles) {
    const s = ui.data.streams.get(id);
    if (!s) continue;
    const lat = tile.player?.latency();
    tile.stats.textContent = `live ${age(s.created_at)} · ${lat === null || lat === undefined ? (s.segments ? "buffering" : "waiting for video") : `latency ${lat.toFixed(1)} s`}`;
    tile.el.dataset.latency = lat === null || lat === undefined ? "" : lat.toFixed(2);
    // A live stream with no picture yet says so in the middle of its tile, not as a black box
    // (the caption at its foot is cut off when the grid is short).
    const state = lat !== null && lat !== undefined ? "playing" : s.segments ? "buffering" : "waiting";
    tile.el.dataset.state = state;
    tile.notice.textContent = state === "waiting" ? "No video from the reporter yet" : state === "buffering" ? "Buffering…" : "";
    tile.notice.hidden = state === "playing";
  }
}
