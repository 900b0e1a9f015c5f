import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { TileType } from "pmtiles";
import { artifact, launchChromium } from "../support/browser.ts";
import { run } from "../support/media.ts";
import { writePmtiles, type ArchiveTile } from "../support/pmtiles.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { buildBinary, runCli, startRter, type RterProcess } from "../support/rter-process.ts";

// The console's base map from the appliance's own PMTiles archive (--map-pmtiles), in Chromium
// against the compiled binary: the tiles on screen are the archive's, read by byte ranges.

let minio: TestMinio;
let rter: RterProcess;
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
        const r = await run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", `color=c=0x${((z * 97 + x * 31 + y * 17) % 200 + 40).toString(16).padStart(2, "0")}6040:s=256x256`, "-frames:v", "1", out]);
        if (r.code !== 0) throw new Error(r.stderr);
        tiles.push({ z, x, y, data: new Uint8Array(await readFile(out)) });
      }
    }
  }
  const file = join(dir, "city.pmtiles");
  writeFileSync(file, writePmtiles(tiles, { tileType: TileType.Png }));
  const [m, binary] = await Promise.all([startMinio(), buildBinary()]);
  minio = m;
  const env = { DATABASE_URL: await testDatabaseUrl(), RTER_STORAGE_URL: minio.url, RTER_LOG_LEVEL: "warn", RTER_MAP_PMTILES: file };
  rter = await startRter({ binary, env, args: ["--roles", "api,web"] });
  await rter.waitReady(60_000);
  const r = await runCli(["users", "add", "--email", OP, "--role", "operator", "--password", PASSWORD], env, binary);
  if (r.code !== 0) throw new Error(r.stderr);
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await rter?.stop("SIGKILL").catch(() => 0);
  await minio?.stop();
});

describe("offline base map in the console (Chromium, compiled binary)", () => {
  test("the map's tiles come from the appliance's PMTiles archive by byte ranges", async () => {
    const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    const ranges: string[] = [];
    context.on("request", (req) => {
      if (req.url().includes("/api/v1/map/archive.pmtiles")) ranges.push(req.headers()["range"] ?? "none");
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
    const loaded = await page.$$eval("#map img.leaflet-tile[src^='blob:']", (imgs) => imgs.filter((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth === 256).length);
    expect(loaded).toBeGreaterThan(0);
    expect(ranges.length).toBeGreaterThan(0);
    expect(ranges.every((r) => /^bytes=\d+-\d+$/.test(r))).toBe(true);
    expect(errors).toEqual([]);
    await page.screenshot({ path: artifact("offline-map.png") });
    await context.close();
  });
});
