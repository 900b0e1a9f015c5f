// Workspace tabs, the items list (newest first with "load older", or a workspace's shared order,
// or search results), ranking by drag or buttons, tags, and the recent streams.

import { api, el } from "../lib/api.ts";
import { $, alertError, canCurate, inWorkspace, itemLabel, ui } from "./context.ts";
import { itemsPage, loadOlder, loadWorkspace } from "./data.ts";
import { focusOn } from "./focus.ts";
import { loadRules } from "./map-view.ts";
import { itemOfStream, mergeItems, newestFirst } from "./store.ts";
import type { ItemView } from "./types.ts";

export function renderTabs(): void {
  const nav = $("#workspaces");
  const want = [null, ...ui.tags.map((t) => t.name)];
  const key = JSON.stringify([want, ui.data.tag, ui.tags.map((t) => t.items)]);
  if (nav.dataset.key === key) return;
  nav.dataset.key = key;
  nav.replaceChildren(
    ...want.map((name) => {
      const count = name === null ? "" : ` (${ui.tags.find((t) => t.name === name)?.items ?? 0})`;
      const b = el(
        "button",
        { type: "button", class: "tab", "aria-pressed": String(ui.data.tag === name), "data-tag": name ?? "" },
        name === null ? "All items" : `#${name}${count}`,
      );
      b.addEventListener("click", () => void openWorkspace(name));
      return b;
    }),
  );
}

export async function openWorkspace(tag: string | null): Promise<void> {
  ui.data = { ...ui.data, tag, order: [] };
  history.replaceState(null, "", tag ? `#tag=${encodeURIComponent(tag)}` : location.pathname);
  if (tag) await loadWorkspace();
  await loadRules();
  ui.scheduleRender();
}

type Row = { li: HTMLLIElement; title: HTMLButtonElement; meta: HTMLElement; tags: HTMLElement; key: string };
const rows = new Map<string, Row>();

function listed(): ItemView[] {
  const d = ui.data;
  const byId = (ids: readonly string[]) => ids.map((id) => d.items.get(id)).filter((i): i is ItemView => !!i);
  if (ui.search) return byId(ui.search.ids);
  if (d.tag) return byId(d.order);
  return [...d.items.values()].sort(newestFirst);
}

export function renderItems(): void {
  const list = $("#item-list");
  const d = ui.data;
  $("#items-title").textContent = ui.search ? "Search results" : d.tag ? `Workspace #${d.tag}` : "Items";
  $("#rank-hint").hidden = !d.tag || !canCurate() || !!ui.search;
  const ranked = !!d.tag && !ui.search;
  const items = listed();
  const older = $<HTMLButtonElement>("#load-older");
  older.hidden = ui.search ? !ui.search.cursor : !!d.tag || !ui.olderCursor;
  list.dataset.count = String(items.length);
  const keep = new Set(items.map((i) => i.id));
  for (const [id, r] of rows) if (!keep.has(id)) r.li.remove(), rows.delete(id);
  items.forEach((i, idx) => {
    let r = rows.get(i.id);
    if (!r) {
      r = buildRow(i);
      rows.set(i.id, r);
    }
    const stream = i.stream ? d.streams.get(i.stream.id) : undefined;
    const key = JSON.stringify([i.title, i.body, i.tags, i.lat, i.lng, stream?.state, d.focus === i.id, ranked, idx === 0, idx === items.length - 1]);
    if (r.key !== key) {
      r.key = key;
      r.title.textContent = itemLabel(i);
      r.li.classList.toggle("focused", d.focus === i.id || (!!i.stream && d.focus === i.stream.id));
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
      for (const b of [up, down]) if (b) b.hidden = !ranked || !canCurate();
      if (up) up.disabled = idx === 0;
      if (down) down.disabled = idx === items.length - 1;
      r.li.draggable = ranked && canCurate();
    }
    if (list.children[idx] !== r.li) list.insertBefore(r.li, list.children[idx] ?? null);
  });
}

function buildRow(i: ItemView): Row {
  const title = el("button", { type: "button", class: "item-title" }) as HTMLButtonElement;
  title.addEventListener("click", () => void focusOn(i.stream?.id ?? i.id));
  const meta = el("span", { class: "meta" });
  const tags = el("span", { class: "tags" });
  const li = el(
    "li",
    { class: `item kind-${i.kind}`, "data-id": i.id },
    el("span", { class: "kind", "aria-hidden": "true" }, { stream: "▶", text: "✎", photo: "▣", link: "↗" }[i.kind]),
    el("div", { class: "item-main" }, title, meta, tags),
  ) as HTMLLIElement;
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
        ui.data = mergeItems(ui.data, [it]);
        ui.scheduleRender();
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
      if (ui.data.tag) ev.preventDefault();
    });
    li.addEventListener("drop", (ev) => {
      ev.preventDefault();
      const dragged = ev.dataTransfer?.getData("text/plain");
      if (!dragged || dragged === i.id) return;
      const order = ui.data.order.filter((id) => id !== dragged);
      const rect = li.getBoundingClientRect();
      const at = order.indexOf(i.id) + (ev.clientY > rect.top + rect.height / 2 ? 1 : 0);
      order.splice(at, 0, dragged);
      void saveOrder(order);
    });
  }
  return { li, title, meta, tags, key: "" };
}

function move(id: string, by: number): void {
  const order = [...ui.data.order];
  const i = order.indexOf(id);
  const j = i + by;
  if (i < 0 || j < 0 || j >= order.length) return;
  [order[i], order[j]] = [order[j]!, order[i]!];
  void saveOrder(order);
}

async function saveOrder(order: string[]): Promise<void> {
  const tag = ui.data.tag;
  if (!tag) return;
  const before = ui.data.order;
  ui.data = { ...ui.data, order };
  renderItems();
  try {
    const r = await api<{ items: string[] }>(`/api/v1/tags/${encodeURIComponent(tag)}/order`, { method: "PUT", json: { items: order } });
    ui.data = { ...ui.data, order: r.items };
  } catch (e) {
    ui.data = { ...ui.data, order: before };
    alertError(e);
  }
  renderItems();
}

export function renderRecent(): void {
  const ul = $("#recent");
  const done = [...ui.data.streams.values()]
    .filter((s) => s.state !== "live" && inWorkspace(itemOfStream(ui.data, s.id)))
    .sort((a, b) => b.created_at.localeCompare(a.created_at))
    .slice(0, 20);
  const key = JSON.stringify(done.map((s) => [s.id, s.state, !!s.recording]));
  if (ul.dataset.key === key) return;
  ul.dataset.key = key;
  ul.replaceChildren(
    ...done.map((s) => {
      const b = el(
        "button",
        { type: "button", "aria-label": `Replay the stream of ${s.owner.email} from ${new Date(s.created_at).toLocaleTimeString()}` },
        "Replay",
      );
      b.addEventListener("click", () => void focusOn(s.id));
      return el("li", {}, b, ` ${s.owner.email} · ${new Date(s.created_at).toLocaleString()} · ${s.state}${s.recording ? "" : " (recording pending)"}`);
    }),
  );
}

// ---------------- search and paging ----------------

/** The search form's filters as query parameters; the map's bounds when "in this map view" is on. */
export function searchParams(form: HTMLFormElement): URLSearchParams {
  const d = new FormData(form);
  const q = new URLSearchParams();
  const text = (k: string) => String(d.get(k) ?? "").trim();
  if (text("q")) q.set("q", text("q"));
  if (text("kind")) q.set("kind", text("kind"));
  if (text("reporter")) q.set("reporter", text("reporter"));
  for (const k of ["from", "to"]) if (text(k)) q.set(k, new Date(text(k)).toISOString());
  const tag = text("tag") || ui.data.tag;
  if (tag) q.set("tag", tag);
  if (d.get("bbox")) {
    const b = ui.map.map.getBounds();
    // Leaflet's longitudes run past ±180 after panning around the world; the API wants degrees.
    const lng = (x: number) => Math.max(-180, Math.min(180, x));
    q.set("bbox", [lng(b.getWest()), Math.max(-90, b.getSouth()), lng(b.getEast()), Math.min(90, b.getNorth())].map((x) => x.toFixed(6)).join(","));
  }
  // A search needs a filter; no words and no filters is "everything", newest first.
  if (![...q.keys()].some((k) => k !== "tag")) q.set("from", "1970-01-01T00:00:00.000Z");
  return q;
}

export async function runSearch(params: URLSearchParams): Promise<void> {
  const status = $("#search-status");
  ui.search = { params, ids: [], cursor: null, busy: true };
  status.textContent = "Searching…";
  try {
    const page = await itemsPage(params, null);
    if (ui.search?.params !== params) return;
    ui.data = mergeItems(ui.data, page.items);
    ui.search = { params, ids: page.items.map((i) => i.id), cursor: page.next, busy: false };
    status.textContent = `${page.items.length}${page.next ? "+" : ""} item${page.items.length === 1 ? "" : "s"} found${params.has("bbox") ? " in this map view" : ""}.`;
  } catch (e) {
    ui.search = null;
    status.textContent = `Search refused: ${(e as Error).message}`;
  }
  $("#search-clear").hidden = !ui.search;
  ui.scheduleRender();
}

export function clearSearch(): void {
  ui.search = null;
  $("#search-status").textContent = "";
  $("#search-clear").hidden = true;
  ui.scheduleRender();
}

/** "Load older": the next keyset page of the search or of all items. */
export async function older(): Promise<void> {
  const b = $<HTMLButtonElement>("#load-older");
  b.disabled = true;
  try {
    const s = ui.search;
    if (s?.cursor) {
      const page = await itemsPage(s.params, s.cursor);
      ui.data = mergeItems(ui.data, page.items);
      ui.search = { ...s, ids: [...s.ids, ...page.items.map((i) => i.id)], cursor: page.next };
    } else if (!s) {
      await loadOlder();
    }
  } catch (e) {
    alertError(e);
  } finally {
    b.disabled = false;
    ui.scheduleRender();
  }
}
