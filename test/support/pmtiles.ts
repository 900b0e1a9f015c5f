import { zxyToTileId } from "pmtiles";

// A PMTiles v3 archive written by hand (the spec: github.com/protomaps/PMTiles/blob/main/spec/v3):
// a 127-byte header, one root directory, JSON metadata, then the tiles, nothing compressed. Small
// enough to build inside a test, real enough for the pmtiles reader and for Leaflet.

export interface ArchiveTile {
  z: number;
  x: number;
  y: number;
  data: Uint8Array;
}

/** TileType of the spec: 1 MVT, 2 PNG, 3 JPEG, 4 WebP. */
export function writePmtiles(tiles: ArchiveTile[], opts: { tileType: number; bounds?: [number, number, number, number] }): Uint8Array {
  const sorted = tiles.map((t) => ({ ...t, id: zxyToTileId(t.z, t.x, t.y) })).sort((a, b) => a.id - b.id);
  let offset = 0;
  const entries = sorted.map((t) => {
    const e = { id: t.id, offset, length: t.data.length };
    offset += t.data.length;
    return e;
  });
  const dir: number[] = [];
  const varint = (n: number) => {
    while (n >= 0x80) {
      dir.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    dir.push(n);
  };
  varint(entries.length);
  entries.forEach((e, i) => varint(e.id - (i ? entries[i - 1]!.id : 0)));
  entries.forEach(() => varint(1));
  entries.forEach((e) => varint(e.length));
  // 0 = right after the previous tile; otherwise offset + 1.
  entries.forEach((e, i) => varint(i && e.offset === entries[i - 1]!.offset + entries[i - 1]!.length ? 0 : e.offset + 1));
  const root = Uint8Array.from(dir);
  const meta = new TextEncoder().encode(JSON.stringify({ name: "rter test extract" }));
  const HEADER = 127;
  const rootAt = HEADER;
  const metaAt = rootAt + root.length;
  const dataAt = metaAt + meta.length;
  const out = new Uint8Array(dataAt + offset);
  const v = new DataView(out.buffer);
  out.set(new TextEncoder().encode("PMTiles"), 0);
  v.setUint8(7, 3);
  const u64 = (at: number, n: number) => v.setBigUint64(at, BigInt(n), true);
  u64(8, rootAt);
  u64(16, root.length);
  u64(24, metaAt);
  u64(32, meta.length);
  u64(40, dataAt); // no leaf directories: offset of an empty section
  u64(48, 0);
  u64(56, dataAt);
  u64(64, offset);
  u64(72, entries.length);
  u64(80, entries.length);
  u64(88, entries.length);
  v.setUint8(96, 1); // clustered
  v.setUint8(97, 1); // internal compression: none
  v.setUint8(98, 1); // tile compression: none
  v.setUint8(99, opts.tileType);
  v.setUint8(100, Math.min(...tiles.map((t) => t.z)));
  v.setUint8(101, Math.max(...tiles.map((t) => t.z)));
  const [w, s, e, n] = opts.bounds ?? [-180, -85, 180, 85];
  v.setInt32(102, Math.round(w * 1e7), true);
  v.setInt32(106, Math.round(s * 1e7), true);
  v.setInt32(110, Math.round(e * 1e7), true);
  v.setInt32(114, Math.round(n * 1e7), true);
  v.setUint8(118, 0);
  v.setInt32(119, Math.round(((w + e) / 2) * 1e7), true);
  v.setInt32(123, Math.round(((s + n) / 2) * 1e7), true);
  out.set(root, rootAt);
  out.set(meta, metaAt);
  sorted.forEach((t, i) => out.set(t.data, dataAt + entries[i]!.offset));
  return out;
}
