// The text and photo report form of the reporter page: sent at once (not through the outbox),
// with the phone's position when there is one.

import { api, request } from "../lib/api.ts";

const $ = <T extends HTMLElement = HTMLElement>(sel: string) => document.querySelector(sel) as T;

export function wireReportForm(position: () => GeolocationPosition | null): void {
  $<HTMLFormElement>("#report").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target as HTMLFormElement;
    const data = new FormData(form);
    const text = String(data.get("text") ?? "").trim();
    const photo = data.get("photo") as File | null;
    const p = position()?.coords;
    const status = $("#report-status");
    status.textContent = "Sending…";
    try {
      if (photo && photo.size) {
        const q = new URLSearchParams({ title: text.slice(0, 200) || "Photo" });
        if (p) q.set("lat", String(p.latitude)), q.set("lng", String(p.longitude));
        const res = await request(`/api/v1/items/photos?${q}`, {
          method: "POST",
          body: photo,
          headers: { "content-type": photo.type || "image/jpeg" },
          timeoutMs: 60_000,
        });
        if (!res.ok) throw new Error(`refused (${res.status})`);
      } else if (text) {
        await api("/api/v1/items", {
          method: "POST",
          json: { kind: "text", title: text.slice(0, 120), body: text, ...(p ? { lat: p.latitude, lng: p.longitude } : {}) },
        });
      } else {
        status.textContent = "Write something or attach a photo first.";
        return;
      }
      form.reset();
      status.textContent = "Sent to the control room.";
    } catch (e) {
      status.textContent = `Not sent: ${(e as Error).message}`;
    }
  });
}
