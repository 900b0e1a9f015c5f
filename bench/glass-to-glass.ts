// bench glass-to-glass: a reporter page in Chromium "films" a clock — a canvas painting
// Date.now() as a barcode, swapped in for the camera (getUserMedia overridden; the fake microphone
// stays) — and the operator console in the same browser reads the barcode off the frame its
// <video> shows (drawn into a canvas) and subtracts it from Date.now(). One machine, one clock:
// the figure is capture → encode → upload → store → playlist → player → frame on screen.
// Runs the CMAF (WebCodecs, LL-HLS) path and the classic (MediaRecorder, worker) path.
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../test/support/browser.ts";
import { runCli, startRter, type RterProcess } from "../test/support/rter-process.ts";
import { fmt, getFixture, pct, runAlone, table, type Figure } from "./lib.ts";

/** Seconds of playback sampled per path (after the stream first plays). */
const SECONDS = Number(process.env.RTER_BENCH_G2G_SECONDS ?? 20);
const PASSWORD = "glass to glass 123";
const BITS = 40;

/** Runs in the reporter page before its scripts: getUserMedia returns the clock canvas (and the fake mic). */
function clockCamera(bits: number): void {
  const W = 640;
  const H = 360;
  const canvas = document.createElement("canvas");
  canvas.width = W;
  canvas.height = H;
  const g = canvas.getContext("2d")!;
  const bar = Math.floor((W - 40) / bits);
  const paint = () => {
    const now = Date.now();
    const v = now % 2 ** bits;
    g.fillStyle = "#808080";
    g.fillRect(0, 0, W, H);
    // The same bits in two rows: a reading counts only when both agree.
    for (const y of [20, 150]) {
      for (let i = 0; i < bits; i++) {
        g.fillStyle = Math.floor(v / 2 ** (bits - 1 - i)) % 2 ? "#ffffff" : "#000000";
        g.fillRect(20 + i * bar, y, bar, 110);
      }
    }
    g.fillStyle = "#000";
    g.font = "bold 48px monospace";
    g.fillText(String(now % 1e7), 20, 330);
  };
  paint();
  setInterval(paint, 5);
  const md = navigator.mediaDevices;
  const real = md.getUserMedia.bind(md);
  md.getUserMedia = async (c?: MediaStreamConstraints) => {
    const audio = c?.audio ? (await real({ audio: c.audio })).getAudioTracks() : [];
    return new MediaStream([...canvas.captureStream(30).getVideoTracks(), ...audio]);
  };
}

/** Runs in the console page: samples the stream's <video> every 50 ms and decodes the barcode. */
function startReading(args: { streamId: string; bits: number }): void {
  const w = window as unknown as { g2g: number[] };
  w.g2g = [];
  const c = document.createElement("canvas");
  const g = c.getContext("2d", { willReadFrequently: true })!;
  setInterval(() => {
    const video = document.querySelector(`.tile[data-stream="${args.streamId}"] video`) as HTMLVideoElement | null;
    if (!video || video.paused || video.videoWidth === 0) return;
    const now = Date.now();
    c.width = video.videoWidth;
    c.height = video.videoHeight;
    g.drawImage(video, 0, 0);
    const sx = c.width / 640;
    const sy = c.height / 360;
    const bar = Math.floor((640 - 40) / args.bits);
    const row = (y: number) => {
      const px = g.getImageData(0, Math.round((y + 55) * sy), c.width, 1).data;
      let v = 0;
      for (let i = 0; i < args.bits; i++) {
        const x = Math.round((20 + i * bar + bar / 2) * sx);
        v = v * 2 + (px[x * 4]! > 128 ? 1 : 0);
      }
      return v;
    };
    const a = row(20);
    if (a !== row(150)) return;
    const shown = now - ((now - a) % 2 ** args.bits);
    const l = now - shown;
    if (l >= 0 && l < 60_000) w.g2g.push(l);
  }, 50);
}

async function signIn(page: Page, url: string, email: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function measure(
  browser: Browser,
  node: RterProcess,
  reporter: string,
  operator: string,
  path: "cmaf" | "classic",
): Promise<{ g2g: number[]; pdt: number[]; toPlayingS: number }> {
  const rc = await browser.newContext({ permissions: ["camera", "microphone"] });
  const oc = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  try {
    await rc.addInitScript(clockCamera, BITS);
    const [rp, op] = await Promise.all([rc.newPage(), oc.newPage()]);
    await Promise.all([signIn(rp, `${node.url}/report${path === "classic" ? "?capture=classic" : ""}`, reporter), signIn(op, `${node.url}/`, operator)]);
    await rp.getByRole("button", { name: "Go live" }).click();
    const t0 = Date.now();
    let streamId: string | null = null;
    while (!streamId && Date.now() - t0 < 15_000) {
      await Bun.sleep(200);
      streamId = await rp.evaluate(() => (window as any).rterReporter.stats().streamId as string | null);
    }
    if (!streamId) throw new Error(`${path}: no stream`);
    const format = await rp.evaluate(() => (window as any).rterReporter.stats().format as string);
    if (format !== path) throw new Error(`${path}: the page recorded as ${format}`);
    await op.locator(`.tile[data-stream="${streamId}"] video`).waitFor({ timeout: 20_000 });
    await op.waitForFunction(
      (id) => {
        const v = document.querySelector(`.tile[data-stream="${id}"] video`) as HTMLVideoElement | null;
        return !!v && v.currentTime > 0 && !v.paused;
      },
      streamId,
      { timeout: 30_000 },
    );
    const toPlayingS = (Date.now() - t0) / 1000;
    await op.evaluate(startReading, { streamId, bits: BITS });
    const pdt: number[] = [];
    const until = Date.now() + SECONDS * 1000;
    while (Date.now() < until) {
      await Bun.sleep(500);
      const l = await op.evaluate((id) => (window as any).rterConsole?.latency?.(id) ?? null, streamId);
      if (typeof l === "number") pdt.push(l * 1000);
    }
    const g2g = await op.evaluate(() => (window as any).g2g as number[]);
    await rp.getByRole("button", { name: "Stop" }).click();
    await rp.getByRole("button", { name: "Go live" }).waitFor({ timeout: 15_000 });
    return { g2g, pdt, toPlayingS };
  } finally {
    await Promise.all([rc.close(), oc.close()]);
  }
}

export async function run(): Promise<Figure[]> {
  const fx = await getFixture();
  const suffix = Date.now().toString(36);
  const reporter = `g2g-reporter-${suffix}@rter.local`;
  const operator = `g2g-op-${suffix}@rter.local`;
  for (const [email, role] of [
    [reporter, "reporter"],
    [operator, "operator"],
  ] as const) {
    const r = await runCli(["users", "add", "--email", email, "--role", role, "--password", PASSWORD], fx.env, fx.binary);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  const node = await startRter({ binary: fx.binary, env: { ...fx.env, RTER_LOG_LEVEL: "warn" } });
  const browser = await launchChromium({ fakeCamera: true });
  const figures: Figure[] = [];
  const rows: (string | number)[][] = [];
  try {
    await node.waitReady(60_000);
    for (const path of ["cmaf", "classic"] as const) {
      // One path failing (e.g. the server not serving it yet) still measures the other.
      const m = await measure(browser, node, reporter, operator, path).catch((e: Error) => {
        console.error(`${path}: could not measure: ${e.message}`);
        rows.push([path, 0, "-", "-", "-", "-", "-", "-"]);
        return null;
      });
      if (!m) continue;
      const s = m.g2g.map((x) => x / 1000);
      const p = m.pdt.map((x) => x / 1000);
      rows.push([
        path,
        s.length,
        fmt(pct(s, 50), 2),
        fmt(pct(s, 95), 2),
        fmt(Math.min(...s), 2),
        fmt(Math.max(...s), 2),
        fmt(pct(p, 50), 2),
        fmt(m.toPlayingS, 1),
      ]);
      figures.push(
        { bench: "glass-to-glass", what: `${path}: frame on screen − clock in it, p50`, value: fmt(pct(s, 50), 2), unit: "s" },
        { bench: "glass-to-glass", what: `${path}: frame on screen − clock in it, p95`, value: fmt(pct(s, 95), 2), unit: "s" },
        { bench: "glass-to-glass", what: `${path}: Go live → playing in the console`, value: fmt(m.toPlayingS, 1), unit: "s" },
      );
    }
  } finally {
    await browser.close().catch(() => {});
    await node.stop("SIGTERM").catch(() => 0);
  }
  console.log(`\nglass to glass over ${SECONDS} s of playback per path (barcode of Date.now() filmed, read off the console's <video>, sampled every 50 ms):`);
  table(["path", "readings", "p50 s", "p95 s", "min s", "max s", "console PDT p50 s", "go live → playing s"], rows);
  return figures;
}

if (import.meta.main) await runAlone(run);
