import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FetchSource, PMTiles, TileType } from "pmtiles";
import { buildConfig } from "../../core/config/load.ts";
import { startAppPair, type AppPair } from "../support/app.ts";
import { run } from "../support/media.ts";
import { writePmtiles, type ArchiveTile } from "../support/pmtiles.ts";

// --map-pmtiles: the appliance serves the city's extract itself, by byte ranges, so the console's
// PMTiles reader finds every tile with no tile server. The archive is built in the test from PNG
// tiles ffmpeg draws; the pmtiles library (the one the console runs) reads it back over HTTP.

const dir = mkdtempSync(join(tmpdir(), "rter-pmtiles-"));
const file = join(dir, "city.pmtiles");
let archive: Uint8Array;
const tiles: ArchiveTile[] = [];
let pair: AppPair;

async function png(color: string): Promise<Uint8Array> {
  const out = join(dir, `${color}.png`);
  const r = await run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", `color=c=${color}:s=256x256,drawgrid=w=64:h=64:c=white`, "-frames:v", "1", out]);
  if (r.code !== 0) throw new Error(r.stderr);
  return new Uint8Array(readFileSync(out));
}

beforeAll(async () => {
  const colors = ["gray", "red", "green", "blue", "yellow"];
  const pngs = await Promise.all(colors.map(png));
  tiles.push({ z: 0, x: 0, y: 0, data: pngs[0]! });
  for (const [i, [x, y]] of [
    [0, 0],
    [1, 0],
    [0, 1],
    [1, 1],
  ].entries())
    tiles.push({ z: 1, x: x!, y: y!, data: pngs[i + 1]! });
  archive = writePmtiles(tiles, { tileType: TileType.Png });
  writeFileSync(file, archive);
  pair = await startAppPair({ roles: "api", "map-pmtiles": file });
}, 120_000);

afterAll(async () => {
  await pair?.stop();
});

const URL_PATH = "/api/v1/map/archive.pmtiles";
const get = (range?: string) => fetch(`${pair.a.url}${URL_PATH}`, { headers: range ? { range } : {} });

describe("offline base map (--map-pmtiles)", () => {
  test("ui-config points the console at the archive; the pmtiles reader finds every tile over HTTP ranges", async () => {
    const cfg = (await (await pair.a.request("/api/v1/ui-config")).json()) as { map_pmtiles_url: string | null };
    expect(cfg.map_pmtiles_url).toBe(URL_PATH);
    const reader = new PMTiles(new FetchSource(`${pair.a.url}${cfg.map_pmtiles_url}`));
    const h = await reader.getHeader();
    expect([h.tileType, h.minZoom, h.maxZoom, h.numAddressedTiles]).toEqual([TileType.Png, 0, 1, 5]);
    expect((await reader.getMetadata()) as unknown).toEqual({ name: "rter test extract" });
    for (const t of tiles) {
      const got = await reader.getZxy(t.z, t.x, t.y);
      expect(got).toBeDefined();
      expect(Array.from(new Uint8Array(got!.data))).toEqual(Array.from(t.data));
    }
    // Past the archive's zoom: no tile (the map keeps the last one, scaled).
    expect(await reader.getZxy(2, 1, 1)).toBeUndefined();
  });

  test("whole and ranged answers carry exactly the file's bytes, with length, range and ETag", async () => {
    const whole = await get();
    expect(whole.status).toBe(200);
    expect(whole.headers.get("accept-ranges")).toBe("bytes");
    expect(Array.from(new Uint8Array(await whole.arrayBuffer()))).toEqual(Array.from(archive));
    const etag = whole.headers.get("etag");
    expect(etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    const size = archive.length;
    for (const [range, start, end] of [
      ["bytes=0-126", 0, 126],
      ["bytes=127-", 127, size - 1],
      ["bytes=-10", size - 10, size - 1],
      [`bytes=0-${size + 5000}`, 0, size - 1],
      ["bytes=5-5", 5, 5],
    ] as const) {
      const r = await get(range);
      expect(r.status).toBe(206);
      expect(r.headers.get("content-range")).toBe(`bytes ${start}-${end}/${size}`);
      expect(r.headers.get("etag")).toBe(etag);
      expect(Array.from(new Uint8Array(await r.arrayBuffer()))).toEqual(Array.from(archive.slice(start, end + 1)));
    }
  });

  test("hostile ranges are a precise 400 problem; the server keeps answering", async () => {
    for (const range of [`bytes=${archive.length}-`, "bytes=10-5", "bytes=0-1,4-5", "items=0-1", "bytes=abc", "bytes=-", "bytes=99999999999999999999-", ""]) {
      const r = await get(range);
      if (range === "") {
        expect(r.status).toBe(200);
        await r.arrayBuffer();
        continue;
      }
      expect(r.status).toBe(400);
      expect(r.headers.get("content-type")).toContain("application/problem+json");
      expect(((await r.json()) as { detail?: string }).detail ?? "").toMatch(/range/i);
    }
    expect((await get("bytes=0-6")).status).toBe(206);
  });

  test("a wrong --map-pmtiles fails at start, naming the file", async () => {
    const notArchive = join(dir, "red.png");
    const v2 = join(dir, "v2.pmtiles");
    writeFileSync(v2, Uint8Array.from([...new TextEncoder().encode("PMTiles"), 2, ...new Uint8Array(200)]));
    for (const [path, why] of [
      [join(dir, "missing.pmtiles"), /cannot open/],
      [notArchive, /not a PMTiles archive/],
      [v2, /version 2/],
      [dir, /./],
    ] as const) {
      expect(() => buildConfig({ "map-pmtiles": path, "data-dir": dir }, {})).toThrow(why);
    }
  });
});
