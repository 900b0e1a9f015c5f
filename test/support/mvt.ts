// A Mapbox Vector Tile (MVT 2.1, github.com/mapbox/vector-tile-spec/tree/master/2.1) written by
// hand: the protobuf wire format for the few messages a tile has (Tile, Layer, Feature, Value)
// and the geometry commands. Enough to build a small vector base map inside a test, placed by
// longitude and latitude, in the Protomaps basemap's layer names (earth, water, roads, places).

export const EXTENT = 4096;

export type Geometry = { type: "point"; at: [number, number] } | { type: "line"; path: [number, number][] } | { type: "polygon"; ring: [number, number][] };

export interface VtFeature {
  geometry: Geometry;
  props?: Record<string, string | number>;
}

class Writer {
  bytes: number[] = [];
  varint(n: number): this {
    while (n >= 0x80) {
      this.bytes.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    this.bytes.push(n);
    return this;
  }
  key(field: number, wire: 0 | 2 | 1): this {
    return this.varint(field * 8 + wire);
  }
  uint(field: number, n: number): this {
    return this.key(field, 0).varint(n);
  }
  message(field: number, body: number[] | Uint8Array): this {
    this.key(field, 2).varint(body.length);
    for (const b of body) this.bytes.push(b);
    return this;
  }
  string(field: number, s: string): this {
    return this.message(field, new TextEncoder().encode(s));
  }
  packed(field: number, ns: number[]): this {
    const w = new Writer();
    for (const n of ns) w.varint(n);
    return this.message(field, w.bytes);
  }
  double(field: number, v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.key(field, 1);
    for (const x of b) this.bytes.push(x);
    return this;
  }
}

const zigzag = (n: number) => (n << 1) ^ (n >> 31);
const command = (id: number, count: number) => (id & 0x7) | (count << 3);

/** Geometry commands in tile coordinates (integers, 0..EXTENT, y down). */
function encodeGeometry(g: Geometry): number[] {
  const out: number[] = [];
  let cx = 0;
  let cy = 0;
  const moveTo = (pts: [number, number][], id: number) => {
    out.push(command(id, pts.length));
    for (const [x, y] of pts) {
      out.push(zigzag(x - cx), zigzag(y - cy));
      cx = x;
      cy = y;
    }
  };
  if (g.type === "point") moveTo([g.at], 1);
  else if (g.type === "line") {
    moveTo([g.path[0]!], 1);
    moveTo(g.path.slice(1), 2);
  } else {
    // An exterior ring: positive area with y down (clockwise on screen), not repeating its first point.
    let area = 0;
    g.ring.forEach(([x1, y1], i) => {
      const [x2, y2] = g.ring[(i + 1) % g.ring.length]!;
      area += x1 * y2 - x2 * y1;
    });
    const ring = area < 0 ? [...g.ring].reverse() : g.ring;
    moveTo([ring[0]!], 1);
    moveTo(ring.slice(1), 2);
    out.push(command(7, 1));
  }
  return out;
}

const GEOM_TYPE = { point: 1, line: 2, polygon: 3 } as const;

/** One tile of named layers. Feature coordinates are already in tile units (see `project`). */
export function encodeTile(layers: Record<string, VtFeature[]>): Uint8Array {
  const tile = new Writer();
  for (const [name, features] of Object.entries(layers)) {
    const keys: string[] = [];
    const values: (string | number)[] = [];
    const layer = new Writer().uint(15, 2).string(1, name);
    features.forEach((f, i) => {
      const tags: number[] = [];
      for (const [k, v] of Object.entries(f.props ?? {})) {
        let ki = keys.indexOf(k);
        if (ki < 0) ki = keys.push(k) - 1;
        let vi = values.indexOf(v);
        if (vi < 0) vi = values.push(v) - 1;
        tags.push(ki, vi);
      }
      const feature = new Writer()
        .uint(1, i + 1)
        .packed(2, tags)
        .uint(3, GEOM_TYPE[f.geometry.type])
        .packed(4, encodeGeometry(f.geometry));
      layer.message(2, feature.bytes);
    });
    for (const k of keys) layer.string(3, k);
    for (const v of values) layer.message(4, typeof v === "string" ? new Writer().string(1, v).bytes : new Writer().double(3, v).bytes);
    layer.uint(5, EXTENT);
    tile.message(3, layer.bytes);
  }
  return Uint8Array.from(tile.bytes);
}

/** Web Mercator tile of a point at zoom z. */
export function tileOf(lng: number, lat: number, z: number): { x: number; y: number } {
  const n = 2 ** z;
  const r = (lat * Math.PI) / 180;
  return { x: Math.floor(((lng + 180) / 360) * n), y: Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n) };
}

/** A longitude/latitude in the coordinates of tile z/x/y (may fall outside 0..EXTENT). */
export function project(lng: number, lat: number, z: number, x: number, y: number): [number, number] {
  const n = 2 ** z;
  const r = (lat * Math.PI) / 180;
  const fx = ((lng + 180) / 360) * n - x;
  const fy = ((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n - y;
  return [Math.round(fx * EXTENT), Math.round(fy * EXTENT)];
}
