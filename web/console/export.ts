// Evidence packages from the console: ask for one (focused stream or item, or the open
// workspace), follow its progress by events, offer the download when it is ready.

import { api, el } from "../lib/api.ts";
import { $, ui } from "./context.ts";
import type { ExportView } from "./types.ts";

let current: { id: string; view: ExportView | null } | null = null;

export async function requestExport(body: { streams?: string[]; items?: string[]; tag?: string }): Promise<void> {
  const out = $("#export-status");
  out.hidden = false;
  try {
    const v = await api<ExportView>("/api/v1/exports", { method: "POST", json: body });
    current = { id: v.id, view: v };
    renderExport();
  } catch (e) {
    out.textContent = `Export refused: ${(e as Error).message}`;
  }
}

export function renderExport(): void {
  if (!current) return;
  const out = $("#export-status");
  const ev = ui.data.exports.get(current.id);
  const state = ev?.state ?? current.view?.state ?? "queued";
  const progress = ev?.progress ?? current.view?.progress ?? 0;
  out.dataset.state = state;
  const key = JSON.stringify([current.id, state, progress, current.view?.download_url]);
  if (out.dataset.key === key) return;
  out.dataset.key = key;
  if (state === "ready" && !current.view?.download_url) {
    // The event says ready; the download link comes with the export itself.
    const id = current.id;
    void api<ExportView>(`/api/v1/exports/${id}`).then((v) => {
      if (current?.id === id) (current.view = v), renderExport();
    });
  }
  const bar = el("progress", { max: 1, value: progress, "aria-label": "Export progress" });
  const text =
    state === "failed"
      ? `Export failed: ${ev?.error ?? current.view?.error ?? "unknown error"}`
      : state === "ready"
        ? "Evidence package ready."
        : `Building evidence package… ${Math.round(progress * 100)}%`;
  const link =
    state === "ready" && current.view?.download_url
      ? el("a", { href: current.view.download_url, download: "", id: "export-download" }, "Download package")
      : null;
  out.replaceChildren(el("span", {}, text), " ", bar, ...(link ? [" ", link] : []));
}
