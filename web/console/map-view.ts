// The map: reporters (live with heading cone and track), items with a position, guidance target,
// replay and timeline positions, "who can see this?", geofence drawing and the workspace's rules.

import { api, el } from "../lib/api.ts";
import { compass, formatDistance, whoCanSee, type LatLng } from "../lib/geo.ts";
import { drawAreas, type MapMarker } from "../lib/map.ts";
import { $, alertError, inWorkspace, isAdmin, itemLabel, positionOf, ui } from "./context.ts";
import { replayPosition, sendGuidance } from "./focus.ts";
import { timelineMarkers } from "./timeline.ts";

export function renderMap(): void {
  const d = ui.data;
  const markers: MapMarker[] = [];
  const focusStream = d.focus && d.streams.has(d.focus) ? d.focus : null;
  for (const i of d.items.values()) {
    if (!inWorkspace(i)) continue;
    if (i.stream) {
      const s = d.streams.get(i.stream.id);
      const p = positionOf(i.stream.id) ?? (i.lat !== null && i.lng !== null ? { lat: i.lat, lng: i.lng, heading: i.heading } : null);
      if (!p) continue;
      const live = (s?.state ?? i.stream.state) === "live";
      if (!live && focusStream !== i.stream.id && d.streams.size > 0 && s && Date.now() - Date.parse(s.finished_at ?? s.created_at) > 3_600_000) continue;
      markers.push({
        id: i.stream.id,
        pos: p,
        heading: live ? p.heading : null,
        kind: "stream",
        live,
        label: `${i.author.email}${live ? " (live)" : ""}`,
        track: live ? d.telemetry.get(i.stream.id)?.slice(-120) : undefined,
        focused: d.focus === i.stream.id,
      });
    } else if (i.lat !== null && i.lng !== null) {
      markers.push({ id: i.id, pos: { lat: i.lat, lng: i.lng }, heading: null, kind: i.kind, label: itemLabel(i), focused: d.focus === i.id });
    }
  }
  if (focusStream) {
    const g = d.guidance.get(focusStream);
    if (g && g.lat !== null && g.lng !== null)
      markers.push({ id: `target:${focusStream}`, pos: { lat: g.lat, lng: g.lng }, heading: null, kind: "target", label: `Target: ${g.message || "point"}` });
  }
  if (ui.replay) {
    const p = replayPosition();
    if (p) markers.push({ id: "replay", pos: p, heading: p.heading, kind: "replay", label: "Replay position" });
  }
  markers.push(...timelineMarkers());
  if (ui.whoPoint) markers.push({ id: "who-point", pos: ui.whoPoint, heading: null, kind: "point", label: "Who can see this point?" });
  ui.map.sync(markers);
}

// ---------------- who can see this? ----------------

function liveViewers() {
  const out: { id: string; lat: number; lng: number; heading: number | null; email: string }[] = [];
  for (const s of ui.data.streams.values()) {
    if (s.state !== "live") continue;
    const p = positionOf(s.id);
    if (p) out.push({ id: s.id, lat: p.lat, lng: p.lng, heading: p.heading, email: s.owner.email });
  }
  return out;
}

export function renderWho(point: LatLng): void {
  const results = whoCanSee(point, liveViewers());
  const box = $("#who-results");
  const seeing = results.filter((r) => r.sees);
  const others = results.filter((r) => !r.sees);
  const line = (r: (typeof results)[number]) => {
    const go = el("button", { type: "button", "aria-label": `Guide ${r.viewer.email} toward this point` }, "Guide");
    go.addEventListener(
      "click",
      () =>
        void sendGuidance(r.viewer.id, { lat: point.lat, lng: point.lng, message: "Point your camera here" }).then(() => (go.textContent = "Sent"), alertError),
    );
    const what = r.sees
      ? `sees it, ${formatDistance(r.distance)} away`
      : `${formatDistance(r.distance)} away, bearing ${Math.round(r.bearing)}° ${compass(r.bearing)}${r.turn !== null ? `, must turn ${r.turn > 0 ? "right" : "left"} ${Math.abs(Math.round(r.turn))}°` : ""}`;
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
    el(
      "p",
      { class: "meta" },
      seeing.length ? `${seeing.length} live reporter${seeing.length === 1 ? "" : "s"} can see it now.` : "No live camera points at it now.",
    ),
    el("ul", { class: "who" }, ...seeing.map(line), ...others.map(line)),
    all,
  );
}

// ---------------- map modes ----------------

export function setMode(mode: typeof ui.mode): void {
  ui.mode = ui.mode === mode ? "none" : mode;
  $("#who-mode").setAttribute("aria-pressed", String(ui.mode === "who"));
  $("#pick-target").setAttribute("aria-pressed", String(ui.mode === "pick"));
  $("#draw-geofence").setAttribute("aria-pressed", String(ui.mode === "draw"));
  $("#map-hint").textContent = {
    none: "",
    who: "Click a point on the map.",
    pick: "Click the target point on the map.",
    draw: "Click the corners of the area, then Save geofence.",
  }[ui.mode];
  if (ui.mode !== "draw") {
    ui.sketch.clear();
    $<HTMLButtonElement>("#save-geofence").disabled = true;
  }
}

export function onMapClick(p: LatLng): void {
  ui.lastPoint = p;
  if (ui.mode === "who") {
    ui.whoPoint = p;
    renderWho(p);
    renderMap();
  } else if (ui.mode === "pick") {
    const f = $<HTMLFormElement>("#guidance-form");
    (f.elements.namedItem("lat") as HTMLInputElement).value = p.lat.toFixed(6);
    (f.elements.namedItem("lng") as HTMLInputElement).value = p.lng.toFixed(6);
    setMode("none");
  } else if (ui.mode === "draw") {
    ui.sketch.add(p);
    $<HTMLButtonElement>("#save-geofence").disabled = ui.sketch.points.length < 3;
  }
}

/** The open workspace's rules: geofences drawn on the map, and (admins) the list to edit. */
export async function loadRules(): Promise<void> {
  const box = $("#rules");
  const tag = ui.data.tag;
  box.hidden = !tag || !isAdmin();
  const rules = tag
    ? await api<{ id: string; kind: string; keyword: string | null; polygon: [number, number][] | null }[]>(
        `/api/v1/tags/${encodeURIComponent(tag)}/rules`,
      ).catch(() => [])
    : [];
  ui.areas = drawAreas(
    ui.map.map,
    rules.filter((r) => r.polygon).map((r) => r.polygon!.map(([lat, lng]) => ({ lat, lng }))),
    ui.areas,
  );
  if (box.hidden || !tag) return;
  $("#rules-tag").textContent = `#${tag}`;
  $("#rule-list").replaceChildren(
    ...rules.map((r) => {
      const del = el(
        "button",
        { type: "button", class: "quiet", "aria-label": `Delete rule ${r.kind === "keyword" ? `keyword ${r.keyword}` : "geofence"}` },
        "Delete",
      );
      del.addEventListener("click", () => void api(`/api/v1/tags/${encodeURIComponent(tag)}/rules/${r.id}`, { method: "DELETE" }).catch(alertError));
      return el("li", {}, r.kind === "keyword" ? `Keyword “${r.keyword}”` : `Geofence of ${r.polygon!.length} points`, " ", del);
    }),
  );
}
