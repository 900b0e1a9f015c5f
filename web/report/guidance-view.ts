// The control room's guidance on the reporter's screen: an arrow towards the target (relative to
// where the camera points when there is a compass, else to north) and the operator's message.

import { api } from "../lib/api.ts";
import { subscribe } from "../lib/events.ts";
import { bearing, compass, distance, formatDistance, onTarget, turn } from "../lib/geo.ts";

export interface Guidance {
  lat: number | null;
  lng: number | null;
  heading: number | null;
  message: string;
}

/**
 * Follows the guidance of one stream (events, plus the current value once); `onChange` gets
 * every new value. Returns the unsubscribe function.
 */
export function listenForGuidance(streamId: string, current: () => Guidance | null, onChange: (g: Guidance | null) => void): () => void {
  const unsubscribe = subscribe((e) => {
    if (e.data.stream_id !== streamId) return;
    if (e.type === "guidance.set")
      onChange({ lat: e.data.lat ?? null, lng: e.data.lng ?? null, heading: e.data.heading ?? null, message: e.data.message ?? "" });
    else if (e.type === "guidance.cleared") onChange(null);
  });
  void api<Guidance | null>(`/api/v1/streams/${streamId}/guidance`).then(
    (g) => onChange(g && !current() ? g : current()),
    () => {},
  );
  return unsubscribe;
}

const $ = <T extends HTMLElement = HTMLElement>(sel: string) => document.querySelector(sel) as T;

export function renderGuidance(g: Guidance | null, position: GeolocationPosition | null, heading: number | null): void {
  const box = $("#guidance");
  box.hidden = !g;
  if (!g) return;
  const pos = position?.coords;
  let wanted: number | null = g.heading;
  let detail = "";
  if (g.lat !== null && g.lng !== null) {
    if (pos) {
      const here = { lat: pos.latitude, lng: pos.longitude };
      wanted = bearing(here, { lat: g.lat, lng: g.lng });
      detail = `Target ${formatDistance(distance(here, { lat: g.lat, lng: g.lng }))} ${compass(wanted)}`;
    } else detail = "Target point set (waiting for your position)";
  } else if (wanted !== null) detail = `Point the camera ${compass(wanted)} (${Math.round(wanted)}°)`;
  const arrow = $("#arrow");
  arrow.style.display = wanted === null ? "none" : "";
  if (wanted !== null) {
    const rot = heading === null ? wanted : turn(heading, wanted);
    arrow.style.transform = `rotate(${rot}deg)`;
    const ok = onTarget(heading, wanted);
    arrow.classList.toggle("on-target", ok);
    arrow.setAttribute(
      "aria-label",
      ok ? "On target" : `Turn ${heading === null ? `to ${compass(wanted)}` : rot > 0 ? `right ${Math.round(rot)}°` : `left ${Math.round(-rot)}°`}`,
    );
    if (ok) detail = `On target. ${detail}`;
  }
  $("#guidance-message").textContent = g.message;
  $("#guidance-detail").textContent = detail;
}
