import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { TileType } from "pmtiles";
import { artifact, launchChromium } from "../support/browser.ts";
import { run } from "../support/media.ts";
import { encodeTile, EXTENT, project, tileOf, type VtFeature } from "../support/mvt.ts";
import { writePmtiles, type ArchiveTile } from "../support/pmtiles.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { buildBinary, runCli, startRter, type RterProcess } from "../support/rter-process.ts";

// The console's base map from the appliance's own PMTiles archive (--map-pmtiles), in Chromium
// against the compiled binary: the tiles on screen are the archive's, read by byte ranges.

let minio: TestMinio;
let rter: RterProcess;
/** A second node whose archive is vector (MVT), drawn by protomaps-leaflet. */
let rterVector: RterProcess;
let browser: Browser;
const PASSWORD = "correct horse battery";
const OP = "op@city.example";
const dir = mkdtempSync(join(tmpdir(), "rter-offline-map-"));

beforeAll(async () => {
  const tiles: ArchiveTile[] = [];
  // z0..z2 over the whole world: every tile the console's first view needs at low zoom is there.
  for (let z = 0; z <= 2; z++) {
    for (let x = 0; x < 1 << z; x++) {
      for (let y = 0; y < 1 << z; y++) {
        const out = join(dir, `${z}-${x}-${y}.png`);
        const r = await run([
          "ffmpeg",
          "-v",
          "error",
          "-y",
          "-f",
          "lavfi",
          "-i",
          `color=c=0x${(((z * 97 + x * 31 + y * 17) % 200) + 40).toString(16).padStart(2, "0")}6040:s=256x256`,
          "-frames:v",
          "1",
          out,
        ]);
        if (r.code !== 0) throw new Error(r.stderr);
        tiles.push({ z, x, y, data: new Uint8Array(await readFile(out)) });
      }
    }
  }
  const file = join(dir, "city.pmtiles");
  writeFileSync(file, writePmtiles(tiles, { tileType: TileType.Png }));
  const vectorFile = join(dir, "city-vector.pmtiles");
  writeFileSync(vectorFile, writePmtiles(vectorTiles(), { tileType: TileType.Mvt, bounds: [-73.7, 45.45, -73.45, 45.56] }));
  const [m, binary] = await Promise.all([startMinio(), buildBinary()]);
  minio = m;
  const env = { DATABASE_URL: await testDatabaseUrl(), RTER_STORAGE_URL: minio.url, RTER_LOG_LEVEL: "warn", RTER_MAP_PMTILES: file };
  rter = await startRter({ binary, env, args: ["--roles", "api,web"] });
  await rter.waitReady(60_000);
  const r = await runCli(["users", "add", "--email", OP, "--role", "operator", "--password", PASSWORD], env, binary);
  if (r.code !== 0) throw new Error(r.stderr);
  rterVector = await startRter({ binary, env: { ...env, RTER_MAP_PMTILES: vectorFile }, args: ["--roles", "api,web"] });
  await rterVector.waitReady(60_000);
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await rter?.stop("SIGKILL").catch(() => 0);
  await rterVector?.stop("SIGKILL").catch(() => 0);
  await minio?.stop();
});

// Downtown Montreal, the console's first view (zoom 14: protomaps-leaflet reads data tiles of
// zoom 13). A small city extract in the Protomaps basemap's layers: land everywhere, the river
// south of a latitude, a highway and a major road through the centre, a place label.
const CENTRE = { lat: 45.5048, lng: -73.5772 };
const RIVER_NORTH = 45.4995;

function vectorTiles(): ArchiveTile[] {
  const B = 64; // buffer beyond the tile edge, as real tiles have
  const clamp = ([x, y]: [number, number]): [number, number] => [Math.max(-B, Math.min(EXTENT + B, x)), Math.max(-B, Math.min(EXTENT + B, y))];
  const tile = (z: number, x: number, y: number): ArchiveTile => {
    const p = (lng: number, lat: number) => clamp(project(lng, lat, z, x, y));
    const inside = (v: number) => v >= -B && v <= EXTENT + B;
    // As a tiler does: a feature only in the tiles it crosses, cut at the buffer.
    const [, riverY] = project(0, RIVER_NORTH, z, x, y);
    const [, roadY] = project(0, CENTRE.lat, z, x, y);
    const [roadX] = project(CENTRE.lng, 0, z, x, y);
    const [placeX, placeY] = project(CENTRE.lng, CENTRE.lat + 0.004, z, x, y);
    const layers: Record<string, VtFeature[]> = {
      earth: [
        {
          geometry: {
            type: "polygon",
            ring: [
              [-B, -B],
              [EXTENT + B, -B],
              [EXTENT + B, EXTENT + B],
              [-B, EXTENT + B],
            ],
          },
          props: { kind: "earth" },
        },
      ],
      water:
        riverY < EXTENT + B
          ? [{ geometry: { type: "polygon", ring: [p(-74, RIVER_NORTH), p(-73, RIVER_NORTH), p(-73, 45), p(-74, 45)] }, props: { kind: "water" } }]
          : [],
      roads: [
        ...(inside(roadY)
          ? [
              {
                geometry: { type: "line" as const, path: [p(-74, CENTRE.lat), p(-73, CENTRE.lat)] },
                props: { kind: "highway", kind_detail: "motorway", min_zoom: 5, name: "Autoroute test" },
              },
            ]
          : []),
        ...(inside(roadX) && riverY > -B
          ? [
              {
                geometry: { type: "line" as const, path: [p(CENTRE.lng, 46), p(CENTRE.lng, RIVER_NORTH)] },
                props: { kind: "major_road", kind_detail: "primary", min_zoom: 8, name: "Boulevard test" },
              },
            ]
          : []),
      ],
      places:
        inside(placeX) && inside(placeY)
          ? [{ geometry: { type: "point", at: [placeX, placeY] }, props: { kind: "locality", name: "Ville-Marie", min_zoom: 4, population_rank: 12 } }]
          : [],
    };
    for (const k of Object.keys(layers)) if (!layers[k]!.length) delete layers[k];
    return { z, x, y, data: encodeTile(layers) };
  };
  const out: ArchiveTile[] = [tile(0, 0, 0)];
  const c = tileOf(CENTRE.lng, CENTRE.lat, 13);
  for (let dx = -3; dx <= 3; dx++) for (let dy = -3; dy <= 3; dy++) out.push(tile(13, c.x + dx, c.y + dy));
  return out;
}

describe("offline base map in the console (Chromium, compiled binary)", () => {
  test("the map's tiles come from the appliance's PMTiles archive by byte ranges", async () => {
    const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    const ranges: string[] = [];
    context.on("request", (req) => {
      if (req.url().includes("/api/v1/map/archive.pmtiles")) ranges.push(req.headers().range ?? "none");
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${rter.url}/`);
    await page.getByLabel("Email").fill(OP);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#conn[data-state=live]").waitFor({ timeout: 15_000 });
    await page.waitForFunction(() => (window as any).rterConsole.mapArchive() !== null, null, { timeout: 15_000 });
    expect(await page.evaluate(() => (window as any).rterConsole.mapArchive())).toEqual({ tileType: "Png", minZoom: 0, maxZoom: 2 });
    // Tiles drawn from the archive are images of blob: URLs made from the ranged bytes.
    await page.locator("#map img.leaflet-tile[src^='blob:']").first().waitFor({ timeout: 15_000 });
    const loaded = await page.$$eval(
      "#map img.leaflet-tile[src^='blob:']",
      (imgs) => imgs.filter((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth === 256).length,
    );
    expect(loaded).toBeGreaterThan(0);
    expect(ranges.length).toBeGreaterThan(0);
    expect(ranges.every((r) => /^bytes=\d+-\d+$/.test(r))).toBe(true);
    expect(errors).toEqual([]);
    await page.screenshot({ path: artifact("offline-map.png") });
    await context.close();
  }, 60_000);
  test("a vector archive (MVT) is drawn by protomaps-leaflet: land, river and roads in their colours", async () => {
    const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const failed: string[] = [];
    page.on("response", (r) => r.status() >= 400 && failed.push(`${r.status()} ${new URL(r.url()).pathname}`));
    await page.goto(`${rterVector.url}/`);
    await page.getByLabel("Email").fill(OP);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#conn[data-state=live]").waitFor({ timeout: 15_000 });
    await page.waitForFunction(() => (window as any).rterConsole.mapArchive() !== null, null, { timeout: 15_000 });
    expect(await page.evaluate(() => (window as any).rterConsole.mapArchive())).toEqual({ tileType: "Mvt", minZoom: 0, maxZoom: 13 });
    // The dark flavour's colours (@protomaps/basemaps), counted in the canvas tiles: fills
    // exactly, lines within a few levels (they are antialiased).
    const COLOURS = {
      background: [0x34, 0x37, 0x3d, 0],
      earth: [0x1f, 0x1f, 0x1f, 0],
      water: [0x31, 0x35, 0x3f, 0],
      highway: [0x47, 0x47, 0x47, 4],
      major: [0x3d, 0x3d, 0x3d, 4],
    };
    const count = () =>
      page.$$eval(
        "#map canvas.leaflet-tile",
        (canvases, colours) => {
          const n: Record<string, number> = { total: 0 };
          for (const k of Object.keys(colours)) n[k] = 0;
          for (const c of canvases as HTMLCanvasElement[]) {
            if (!c.width) continue;
            const px = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
            for (let i = 0; i < px.length; i += 4) {
              n.total!++;
              for (const [k, [r, g, b, tol]] of Object.entries(colours))
                if (Math.abs(px[i]! - r!) <= tol! && Math.abs(px[i + 1]! - g!) <= tol! && Math.abs(px[i + 2]! - b!) <= tol!) n[k]!++;
            }
          }
          return n;
        },
        COLOURS,
      );
    // Until every tile is painted: the counts stop changing.
    let seen: Record<string, number> = {};
    for (let i = 0; i < 75; i++) {
      const now = await count();
      const same = JSON.stringify(now) === JSON.stringify(seen);
      seen = now;
      if (same && seen.earth! > 0 && seen.water! > 0 && seen.highway! > 0 && seen.major! > 0) break;
      await Bun.sleep(300);
    }
    console.log(`[web] vector base map: ${JSON.stringify(seen)} pixels`);
    await page.screenshot({ path: artifact("offline-map-vector.png") });
    expect(seen.total).toBeGreaterThan(0);
    // Land covers most of the view, the river its south, both roads are drawn; not the blank background.
    expect(seen.earth! / seen.total!).toBeGreaterThan(0.3);
    expect(seen.water! / seen.total!).toBeGreaterThan(0.05);
    expect(seen.highway).toBeGreaterThan(100); // a thin line across the view, labels over it
    expect(seen.major).toBeGreaterThan(200);
    expect(seen.background! / seen.total!).toBeLessThan(0.05);
    expect(errors).toEqual([]);
    // The archive was read without a failed request (the sign-in page's own 401 aside).
    console.log(`[web] failed requests: ${JSON.stringify(failed)}`);
    expect(failed.filter((f) => f.includes("/map/"))).toEqual([]);
    await context.close();
  }, 60_000);
});
