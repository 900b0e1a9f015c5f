// The console's map: Leaflet with the configured tiles, or a plain grid when there are none (the
// server network is often offline) — markers, heading cones and tracks are useful either way.

import L from "leaflet";
import { FetchSource, leafletRasterLayer, PMTiles, TileType } from "pmtiles";
import { leafletLayer } from "protomaps-leaflet";
import { cone, type LatLng } from "./geo.ts";

/** Graph paper: a tile border every 256 px, finer lines every 64 px. */
const BlankGrid = L.GridLayer.extend({
  createTile(): HTMLElement {
    const c = document.createElement("canvas");
    c.width = c.height = 256;
    const g = c.getContext("2d")!;
    g.fillStyle = "#182028";
    g.fillRect(0, 0, 256, 256);
    g.strokeStyle = "#222d37";
    g.lineWidth = 1;
    for (let i = 64; i < 256; i += 64) {
      g.beginPath();
      g.moveTo(i + 0.5, 0);
      g.lineTo(i + 0.5, 256);
      g.moveTo(0, i + 0.5);
      g.lineTo(256, i + 0.5);
      g.stroke();
    }
    g.strokeStyle = "#2e3b47";
    g.strokeRect(0.5, 0.5, 256, 256);
    return c;
  },
});

export interface MapMarker {
  id: string;
  pos: LatLng;
  heading: number | null;
  kind: "stream" | "text" | "photo" | "link" | "target" | "replay" | "point";
  live?: boolean;
  label: string;
  track?: LatLng[];
  focused?: boolean;
}

/**
 * Leaflet renders a string tooltip or popup as HTML; labels carry what reporters type (titles,
 * emails, guidance messages), so they go in as an element whose text is set, never parsed.
 */
function textNode(text: string): HTMLElement {
  const span = document.createElement("span");
  span.textContent = text;
  return span;
}

const COLOR: Record<MapMarker["kind"], string> = {
  stream: "#e74c3c",
  text: "#3498db",
  photo: "#9b59b6",
  link: "#1abc9c",
  target: "#f1c40f",
  replay: "#f39c12",
  point: "#ecf0f1",
};

export class ConsoleMap {
  readonly map: L.Map;
  private layers = new Map<string, { marker: L.CircleMarker; cone?: L.Polygon; track?: L.Polyline; key: string }>();
  private fitted = false;

  constructor(el: HTMLElement, tileUrl: string | null, onMarkerClick: (id: string) => void, onMapClick: (p: LatLng) => void) {
    this.map = L.map(el, { zoomControl: true, attributionControl: false, worldCopyJump: true }).setView([45.5048, -73.5772], 14);
    this.base = (
      tileUrl ? L.tileLayer(tileUrl, { maxZoom: 19 }) : new (BlankGrid as unknown as new (o: L.GridLayerOptions) => L.GridLayer)({ maxZoom: 22 })
    ).addTo(this.map);
    L.control.scale({ imperial: false }).addTo(this.map);
    this.map.on("click", (e: L.LeafletMouseEvent) => onMapClick({ lat: e.latlng.lat, lng: e.latlng.lng }));
    this.click = onMarkerClick;
    // Leaflet caches its container's size: when the layout changes it (alerts arriving above the
    // panels, the timeline opening, a window resize) the view must be told, or markers near an
    // edge end up outside the visible map and hovers/clicks land on the wrong layer.
    new ResizeObserver(() => this.map.invalidateSize({ pan: false })).observe(el);
  }

  private click: (id: string) => void;
  private base: L.Layer;
  /** The offline base map's kind once its header was read (for tests and support). */
  archive: { tileType: string; minZoom: number; maxZoom: number } | null = null;

  /**
   * Replaces the base layer with the appliance's PMTiles archive (read by byte ranges): vector
   * tiles drawn by protomaps-leaflet (streets and labels), raster tiles as images. The previous
   * base stays when the archive cannot be read. protomaps-leaflet carries its own pmtiles version,
   * so it is given the URL, not our reader.
   */
  async useArchive(url: string): Promise<void> {
    const abs = new URL(url, location.href).toString();
    const archive = new PMTiles(new FetchSource(abs));
    const h = await archive.getHeader();
    const vector = h.tileType === TileType.Mvt;
    if (!vector && ![TileType.Png, TileType.Jpeg, TileType.Webp].includes(h.tileType))
      throw new Error(`offline base map: tile type ${TileType[h.tileType]} is not shown`);
    const layer: L.Layer = vector
      ? (leafletLayer({ url: abs, flavor: "dark", lang: "en", maxDataZoom: h.maxZoom }) as unknown as L.Layer)
      : leafletRasterLayer(archive, { maxZoom: 22, maxNativeZoom: h.maxZoom, minZoom: 0 });
    this.base.remove();
    this.base = layer.addTo(this.map);
    this.archive = { tileType: TileType[h.tileType] ?? "Unknown", minZoom: h.minZoom, maxZoom: h.maxZoom };
  }

  /** Draws exactly these markers; unchanged ones are left alone. */
  sync(markers: MapMarker[]): void {
    const seen = new Set<string>();
    for (const m of markers) {
      seen.add(m.id);
      const key = JSON.stringify([m.pos, m.heading, m.kind, m.live, m.label, m.track?.length, m.track?.at(-1), m.focused]);
      const have = this.layers.get(m.id);
      if (have?.key === key) continue;
      if (have) this.removeLayers(m.id);
      const color = COLOR[m.kind];
      const marker = L.circleMarker([m.pos.lat, m.pos.lng], {
        radius: m.kind === "stream" ? (m.focused ? 10 : 8) : m.kind === "point" ? 5 : 7,
        color: m.focused ? "#ffffff" : color,
        weight: m.focused ? 3 : 2,
        fillColor: m.kind === "stream" && !m.live ? "#7f8c8d" : color,
        fillOpacity: 0.9,
      })
        .bindTooltip(textNode(m.label))
        .on("click", (e) => {
          L.DomEvent.stopPropagation(e);
          this.click(m.id);
        })
        .addTo(this.map);
      const entry: { marker: L.CircleMarker; cone?: L.Polygon; track?: L.Polyline; key: string } = { marker, key };
      if (m.track && m.track.length > 1)
        entry.track = L.polyline(
          m.track.map((p) => [p.lat, p.lng] as [number, number]),
          { color, weight: 2, opacity: 0.6, dashArray: "4 4", interactive: false },
        ).addTo(this.map);
      if (m.heading !== null && (m.kind === "stream" || m.kind === "replay")) {
        entry.cone = L.polygon(
          cone(m.pos, m.heading).map((p) => [p.lat, p.lng] as [number, number]),
          { color, weight: 1, fillColor: color, fillOpacity: m.live || m.kind === "replay" ? 0.25 : 0.1, interactive: false, className: `cone cone-${m.kind}` },
        ).addTo(this.map);
      }
      marker.bringToFront();
      this.layers.set(m.id, entry);
    }
    for (const id of [...this.layers.keys()]) if (!seen.has(id)) this.removeLayers(id);
    if (!this.fitted && markers.length) {
      this.fitted = true;
      this.map.fitBounds(L.latLngBounds(markers.map((m) => [m.pos.lat, m.pos.lng] as [number, number])).pad(0.3), { maxZoom: 16 });
    }
  }

  private removeLayers(id: string): void {
    const l = this.layers.get(id);
    if (!l) return;
    l.marker.remove();
    l.cone?.remove();
    l.track?.remove();
    this.layers.delete(id);
  }

  panTo(p: LatLng): void {
    this.map.panTo([p.lat, p.lng]);
  }
}

/** A polygon being drawn by clicks (geofence rules). */
export class Sketch {
  private line: L.Polygon | null = null;
  readonly points: LatLng[] = [];
  constructor(private readonly map: L.Map) {}
  add(p: LatLng): void {
    this.points.push(p);
    this.line?.remove();
    this.line = L.polygon(
      this.points.map((q) => [q.lat, q.lng] as [number, number]),
      { color: "#f1c40f", dashArray: "6 4", fillOpacity: 0.1 },
    ).addTo(this.map);
  }
  clear(): void {
    this.points.length = 0;
    this.line?.remove();
    this.line = null;
  }
}

/** Shows a rule's geofence while its workspace is open. */
export function drawAreas(map: L.Map, areas: LatLng[][], previous: L.Layer[]): L.Layer[] {
  previous.forEach((l) => l.remove());
  return areas.map((a) =>
    L.polygon(
      a.map((p) => [p.lat, p.lng] as [number, number]),
      { color: "#f1c40f", weight: 1, fillOpacity: 0.05, interactive: false },
    ).addTo(map),
  );
}
