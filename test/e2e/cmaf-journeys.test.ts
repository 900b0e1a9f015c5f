import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { parseFragments, parseInit } from "../../core/media/fmp4.ts";
import { signIn as apiSignIn, untilOk } from "../support/admin.ts";
import { artifact, launchChromium, signInOnPage } from "../support/browser.ts";
import { startCluster, type ProcessCluster } from "../support/cluster-fixture.ts";
import { run } from "../support/media.ts";
import type { RterProcess } from "../support/rter-process.ts";

// The reporter page on the WebCodecs path in Debian's Chromium (fake camera and microphone):
// what it packages is checked on its own (ffmpeg, the server's fragment reader), then the whole
// journey through the compiled binary, MinIO and Postgres to the operator's low-latency player
// and the finished recording. And a browser without WebCodecs still records with MediaRecorder.

let cluster: ProcessCluster;
let node: RterProcess;
let browser: Browser;
const contexts: BrowserContext[] = [];
const PASSWORD = "correct horse battery";
const users = { reporter: "cmaf-reporter@city.example", op: "cmaf-op@city.example" };
let opToken = "";

beforeAll(async () => {
  cluster = await startCluster({ RTER_LOG_LEVEL: "warn" }, { binary: true });
  node = await cluster.ready();
  await cluster.addUsers(PASSWORD, [
    [users.reporter, "reporter"],
    [users.op, "operator"],
  ]);
  opToken = (await apiSignIn(node.url, { email: users.op, password: PASSWORD })).token;
  browser = await launchChromium({ fakeCamera: true });
}, 180_000);

afterAll(async () => {
  await Promise.all(contexts.map((c) => c.close().catch(() => {})));
  await browser?.close().catch(() => {});
  await cluster?.stop();
});

async function phone(opts: { blockServiceWorker?: boolean } = {}): Promise<BrowserContext> {
  // Routes do not see requests a service worker answers: tests that intercept keep it out.
  const c = await browser.newContext({
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
    geolocation: { latitude: 45.5017, longitude: -73.5673 },
    permissions: ["geolocation", "camera", "microphone"],
    serviceWorkers: opts.blockServiceWorker ? "block" : "allow",
  });
  contexts.push(c);
  c.on("weberror", (e) => console.error(`[cmaf] page error: ${e.error().message}`));
  return c;
}

async function apiGet(path: string): Promise<any> {
  const r = await fetch(`${node.url}${path}`, { headers: { authorization: `Bearer ${opToken}` } });
  return r.json();
}

interface Stats {
  streamId: string | null;
  recording: boolean;
  sent: number;
  recorded: number;
  capturedMs: number;
  rejected: number;
  queued: number;
  mime: string;
  format: "cmaf" | "classic" | null;
}
const stats = (page: Page) => page.evaluate(() => (window as any).rterReporter.stats()) as Promise<Stats>;

async function tilePlaying(page: Page, streamId: string): Promise<boolean> {
  const sel = `.tile[data-stream="${streamId}"] video`;
  const t1 = await page.$eval(sel, (v) => (v as HTMLVideoElement).currentTime).catch(() => -1);
  if (t1 <= 0) return false;
  await Bun.sleep(400);
  const t2 = await page.$eval(sel, (v) => (v as HTMLVideoElement).currentTime).catch(() => -1);
  return t2 > t1;
}

async function ffmpegSilent(file: string): Promise<string> {
  const r = await run(["ffmpeg", "-v", "error", "-i", file, "-f", "null", "-"], 120_000);
  return `${r.stderr.trim()}${r.code === 0 ? "" : ` (exit ${r.code})`}`;
}

async function durationOf(file: string): Promise<number> {
  const r = await run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", file]);
  return Number(r.stdout.trim());
}

describe("reporter on the WebCodecs path (Chromium)", () => {
  test("the page encodes and packages CMAF itself: an init, then ~0.25-s fragments the server's reader takes, continuous, a key frame each second, that ffmpeg decodes", async () => {
    const page = await (await phone({ blockServiceWorker: true })).newPage();
    const bodies = new Map<string, { type: string; start: string | null; bytes: Uint8Array }>();
    // The uploads are answered here, so this checks the page alone, whatever the server takes.
    await page.route(/\/api\/v1\/streams\/[^/]+\/(init|chunks\/\d+)$/, async (route) => {
      const req = route.request();
      if (req.method() !== "PUT") return route.continue();
      const name = new URL(req.url()).pathname.split("/").slice(-2).join("/");
      bodies.set(name.endsWith("init") ? "init" : name, {
        type: req.headers()["content-type"] ?? "",
        start: req.headers()["x-chunk-start"] ?? null,
        bytes: new Uint8Array(req.postDataBuffer() ?? []),
      });
      await route.fulfill({ status: 201, contentType: "application/json", body: "{}" });
    });
    await signInOnPage(page, `${node.url}/report`, users.reporter, PASSWORD);
    await page.getByRole("button", { name: "Go live" }).click();
    await page.getByRole("button", { name: "Stop" }).waitFor({ timeout: 10_000 });
    await Bun.sleep(6_000);
    await page.getByRole("button", { name: "Stop" }).click();
    await page.getByRole("button", { name: "Go live" }).waitFor({ timeout: 10_000 });
    await untilOk("the outbox to empty", async () => (await stats(page)).queued === 0, 15_000);
    const s = await stats(page);
    expect(s.format).toBe("cmaf");
    console.log(`[cmaf] ${s.mime}: ${s.recorded} fragments, ${(s.capturedMs / 1000).toFixed(2)} s captured`);

    const init = bodies.get("init");
    expect(init?.type).toBe("video/mp4");
    const chunks = Array.from({ length: s.recorded }, (_, i) => bodies.get(`chunks/${i}`));
    expect(chunks.every((c) => c?.type === "video/iso.segment")).toBe(true);
    expect(s.recorded).toBeGreaterThanOrEqual(15);
    const starts = chunks.map((c) => Number(c!.start));
    expect(starts.every((t, i) => i === 0 || t > starts[i - 1]!)).toBe(true);

    // The server's in-process reader: the init's tracks, every fragment valid and continuing the last.
    const info = parseInit(init!.bytes);
    if (!info.ok) throw new Error(`init refused: ${info.detail}`);
    expect(info.tracks.map((t) => `${t.kind}:${t.codec.toLowerCase()}`).sort()).toEqual(["audio:opus", "video:avc1"]);
    const video = info.tracks.find((t) => t.kind === "video")!;
    const ends = new Map<number, number>();
    const durations: number[] = [];
    const independent: boolean[] = [];
    for (const [i, c] of chunks.entries()) {
      const f = parseFragments(c!.bytes, info);
      if (!f.ok) throw new Error(`fragment ${i} refused: ${f.fault} ${f.detail}`);
      for (const t of f.tracks) {
        if (ends.has(t.id)) expect(Math.abs(t.baseDecodeTime - ends.get(t.id)!)).toBeLessThanOrEqual(1);
        ends.set(t.id, t.baseDecodeTime + t.duration);
        if (t.id === video.id) {
          durations.push(t.duration / video.timescale);
          independent.push(t.firstSampleIsKey);
        }
      }
    }
    expect(independent[0]).toBe(true);
    // Camera and microphone on one timeline: audio starts within a fraction of a second of the first frame.
    const audio = info.tracks.find((t) => t.kind === "audio")!;
    const first = parseFragments(chunks[0]!.bytes, info);
    const audioStart = first.ok ? first.tracks.find((t) => t.id === audio.id)!.baseDecodeTime / audio.timescale : NaN;
    expect(audioStart).toBeGreaterThanOrEqual(0);
    expect(audioStart).toBeLessThan(0.3);
    // Fragments of 0.2–0.5 s (the last at least 0.2 s); an independent one at least every 2 s.
    expect(durations.every((d) => d >= 0.19 && d <= 0.5)).toBe(true);
    const keyAt = independent.flatMap((k, i) => (k ? [durations.slice(0, i).reduce((a, b) => a + b, 0)] : []));
    expect(keyAt.slice(1).every((t, i) => t - keyAt[i]! <= 2)).toBe(true);
    console.log(
      `[cmaf] fragment durations ${Math.min(...durations).toFixed(3)}–${Math.max(...durations).toFixed(3)} s, ${keyAt.length} independent of ${durations.length}; audio starts ${(audioStart * 1000).toFixed(0)} ms after the first frame`,
    );

    const dir = mkdtempSync(join(tmpdir(), "rter-cmaf-page-"));
    try {
      const file = join(dir, "session.mp4");
      writeFileSync(file, Buffer.concat([init!.bytes, ...chunks.map((c) => c!.bytes)]));
      expect(await ffmpegSilent(file)).toBe("");
      const d = await durationOf(file);
      expect(Math.abs(d - s.capturedMs / 1000) / (s.capturedMs / 1000)).toBeLessThan(0.02);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  test("a browser without WebCodecs records with MediaRecorder, as before", async () => {
    const ctx = await phone();
    await ctx.addInitScript(() => {
      delete (window as unknown as Record<string, unknown>).VideoEncoder;
    });
    const page = await ctx.newPage();
    await signInOnPage(page, `${node.url}/report?quality=low`, users.reporter, PASSWORD);
    await page.getByRole("button", { name: "Go live" }).click();
    await page.getByRole("button", { name: "Stop" }).waitFor({ timeout: 10_000 });
    const s = await untilOk("two chunks sent", async () => ((await stats(page)).sent >= 2 ? stats(page) : null), 20_000);
    expect(s.format).toBe("classic");
    expect(s.mime).toMatch(/^video\/(webm|x-matroska|mp4)/);
    const stream = await apiGet(`/api/v1/streams/${s.streamId}`);
    expect(stream.chunks).toBeGreaterThanOrEqual(2);
    expect(stream.format).toBe("classic");
    await page.getByRole("button", { name: "Stop" }).click();
    await page.getByRole("button", { name: "Go live" }).waitFor({ timeout: 10_000 });
    // The page's other form still works from its own module: a text report with the position.
    await page.getByText("Send a text or photo report").click();
    await page.getByLabel("Report text").fill("Water rising at the underpass");
    await page.getByRole("button", { name: "Send report" }).click();
    await page.getByText("Sent to the control room.").waitFor({ timeout: 10_000 });
  }, 40_000);

  test("the init and fragments kept in the outbox survive a reload while offline, and go out init first once the network returns; Go live then finishes that stream and starts a new one", async () => {
    const ctx = await phone();
    const page = await ctx.newPage();
    await signInOnPage(page, `${node.url}/report`, users.reporter, PASSWORD);
    await page.getByRole("button", { name: "Go live" }).waitFor({ timeout: 10_000 });
    // Once online first, so the service worker controls the page and keeps its copy.
    await page.reload();
    await page.getByRole("button", { name: "Go live" }).waitFor({ timeout: 10_000 });
    // The init cannot get through: it stays in the outbox, and every fragment waits behind it.
    await ctx.route(/\/api\/v1\/streams\/[^/]+\/init$/, (r) => r.abort("connectionfailed"));
    await page.getByRole("button", { name: "Go live" }).click();
    await page.getByRole("button", { name: "Stop" }).waitFor({ timeout: 10_000 });
    const streamId = await untilOk("the stream id", async () => (await stats(page)).streamId, 10_000);
    await untilOk("fragments kept", async () => (await stats(page)).queued >= 8, 20_000);
    expect((await stats(page)).sent).toBe(0);
    await ctx.setOffline(true);
    const before = await stats(page);
    await Bun.sleep(400); // the last fragment's IndexedDB write
    await page.reload();
    await page.locator("#join-status", { hasText: "Offline:" }).waitFor({ timeout: 15_000 });
    await ctx.unroute(/\/api\/v1\/streams\/[^/]+\/init$/);
    await ctx.setOffline(false);
    await untilOk("the kept fragments to upload", async () => (await stats(page)).queued === 0 && (await stats(page)).sent > 0, 45_000);
    const stream = await apiGet(`/api/v1/streams/${streamId}`);
    expect(stream.format).toBe("cmaf");
    expect(stream.failed_chunks).toEqual([]);
    expect(stream.chunks).toBeGreaterThanOrEqual(before.recorded);
    const pgc = new (await import("pg")).default.Client({ connectionString: cluster.env.DATABASE_URL });
    await pgc.connect();
    const seqs = (await pgc.query("select seq from chunks where stream_id = $1 order by seq", [streamId])).rows.map((r: { seq: number }) => r.seq);
    await pgc.end();
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i));
    console.log(
      `[cmaf] offline reload: ${before.queued} fragments and the init kept, ${seqs.length} fragments on the server afterwards, seqs 0..${seqs.length - 1}`,
    );
    // "Go live" after the reload: a new encoder cannot continue the old decode times, so the
    // interrupted stream is finished and a new one begins.
    await page.getByRole("button", { name: "Go live" }).click();
    await page.getByRole("button", { name: "Stop" }).waitFor({ timeout: 10_000 });
    const next = await untilOk(
      "a new stream",
      async () => {
        const id = (await stats(page)).streamId;
        return id && id !== streamId ? id : null;
      },
      15_000,
    );
    await untilOk("the interrupted stream finished", async () => (await apiGet(`/api/v1/streams/${streamId}`)).state === "finished", 15_000);
    await untilOk("the new stream receiving fragments", async () => (await apiGet(`/api/v1/streams/${next}`)).chunks >= 2, 15_000);
    await page.getByRole("button", { name: "Stop" }).click();
    await page.getByRole("button", { name: "Go live" }).waitFor({ timeout: 15_000 });
  }, 90_000);

  test("journey: live 20 s → the console plays the CMAF stream in low-latency mode; 10 s offline and back → no part missing; finished → the recording decodes, as long as the capture", async () => {
    const rc = await phone();
    const oc = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    contexts.push(oc);
    const [reporter, op] = await Promise.all([rc.newPage(), oc.newPage()]);
    // hls.js asks for the next part with _HLS_msn/_HLS_part only in low-latency mode (blocking reload).
    const blockingReloads: string[] = [];
    op.on("request", (r) => {
      if (/\.m3u8\?.*_HLS_msn=/.test(r.url())) blockingReloads.push(r.url());
    });
    // The grid's still comes from the phone (web/report/poster.ts), not from a poster job.
    const stills: number[] = [];
    reporter.on("response", (r) => {
      if (r.request().method() === "PUT" && /\/poster$/.test(new URL(r.url()).pathname)) stills.push(r.status());
    });
    await Promise.all([signInOnPage(reporter, `${node.url}/report`, users.reporter, PASSWORD), signInOnPage(op, `${node.url}/`, users.op, PASSWORD)]);
    await op.locator("#grid-empty").or(op.locator(".tile")).first().waitFor({ timeout: 10_000 });

    const t0 = Date.now();
    await reporter.getByRole("button", { name: "Go live" }).click();
    await reporter.getByRole("button", { name: "Stop" }).waitFor({ timeout: 10_000 });
    const streamId = await untilOk("the stream id", async () => (await stats(reporter)).streamId, 10_000);
    await untilOk("the stream playing on the console", () => tilePlaying(op, streamId), 20_000).catch(async (e) => {
      const v = await apiGet(`/api/v1/streams/${streamId}`);
      const pl = await fetch(`${node.url}${v.playlist_url}`, { headers: { authorization: `Bearer ${opToken}` } });
      console.error(
        `[cmaf] stream ${JSON.stringify({ format: v.format, state: v.state, chunks: v.chunks, segments: v.segments, failed: v.failed_chunks })}; reporter ${JSON.stringify(await stats(reporter))}; playlist ${pl.status}:\n${(await pl.text()).slice(0, 800)}`,
      );
      throw e;
    });
    console.log(`[cmaf] go live → playing in the operator's grid: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const stream = await apiGet(`/api/v1/streams/${streamId}`);
    expect(stream.format).toBe("cmaf");
    const playlist = await (await fetch(`${node.url}${stream.playlist_url}`, { headers: { authorization: `Bearer ${opToken}` } })).text();
    expect(playlist).toContain("#EXT-X-PART:");
    expect(playlist).toContain("CAN-BLOCK-RELOAD=YES");
    const latencies: number[] = [];
    while (Date.now() - t0 < 20_000) {
      await Bun.sleep(500);
      const l = await op.evaluate((id) => (window as any).rterConsole?.latency?.(id), streamId).catch(() => null);
      if (typeof l === "number") latencies.push(l);
    }
    expect(await tilePlaying(op, streamId)).toBe(true);
    expect(blockingReloads.length).toBeGreaterThan(0);
    latencies.sort((a, b) => a - b);
    console.log(
      `[cmaf] console latency (PDT clock, busy machine): p50 ${latencies[Math.floor(latencies.length / 2)]?.toFixed(2)} s over ${latencies.length} samples; ${blockingReloads.length} blocking playlist reloads`,
    );
    await op.screenshot({ path: artifact("cmaf-console-live.png") });
    console.log(`[cmaf] stills sent by the phone while live: ${stills.length} (statuses ${[...new Set(stills)].join(",")})`);
    expect(stills.length).toBeGreaterThanOrEqual(3);
    expect(stills.every((st) => st === 200)).toBe(true);
    const poster = await fetch(`${node.url}/api/v1/streams/${streamId}/poster.jpg`, { headers: { authorization: `Bearer ${opToken}` } });
    expect(poster.status).toBe(200);
    const jpeg = new Uint8Array(await poster.arrayBuffer());
    expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8]);
    const db = new pg.Client({ connectionString: cluster.env.DATABASE_URL });
    await db.connect();
    try {
      const row = await db.query("select poster_key from streams where id = $1", [streamId]);
      expect(row.rows[0].poster_key).toContain("/posters/phone-");
      // Posters made from a part carry its seq; the phone's carry none. (Finished jobs leave no row.)
      const made = await db.query(
        "select count(*) filter (where data->>'seq' is not null)::int as made, count(*)::int as all from events where stream_id = $1 and type = 'poster.updated'",
        [streamId],
      );
      expect(made.rows[0].made).toBe(0);
      expect(made.rows[0].all).toBeGreaterThanOrEqual(3);
    } finally {
      await db.end();
    }

    await rc.setOffline(true);
    await Bun.sleep(10_000);
    const offline = await stats(reporter);
    expect(offline.queued).toBeGreaterThanOrEqual(20);
    await rc.setOffline(false);
    await untilOk("the outbox to drain", async () => (await stats(reporter)).queued === 0, 60_000);
    await Bun.sleep(1_000);
    await reporter.getByRole("button", { name: "Stop" }).click();
    await reporter.getByRole("button", { name: "Go live" }).waitFor({ timeout: 15_000 });
    await untilOk("the outbox to drain after stop", async () => (await stats(reporter)).queued === 0, 30_000);
    const s = await stats(reporter);
    console.log(`[cmaf] ${offline.queued} fragments kept offline; ${s.recorded} fragments, ${(s.capturedMs / 1000).toFixed(2)} s captured`);

    const finished = await untilOk(
      "the stream finished with its recording",
      async () => {
        const v = await apiGet(`/api/v1/streams/${streamId}`);
        return v.state === "finished" && v.recording ? v : null;
      },
      120_000,
    );
    expect(finished.chunks).toBe(s.recorded);
    expect(s.rejected).toBe(0);
    const final = await (await fetch(`${node.url}${finished.playlist_url}`, { headers: { authorization: `Bearer ${opToken}` } })).text();
    expect(final).toContain("#EXT-X-ENDLIST");

    const dir = mkdtempSync(join(tmpdir(), "rter-cmaf-rec-"));
    try {
      const res = await fetch(`${node.url}/api/v1/streams/${streamId}/recording.mp4`, { headers: { authorization: `Bearer ${opToken}` } });
      expect(res.status).toBe(200);
      const file = join(dir, "recording.mp4");
      writeFileSync(file, new Uint8Array(await res.arrayBuffer()));
      expect(await ffmpegSilent(file)).toBe("");
      const d = await durationOf(file);
      console.log(`[cmaf] recording ${d.toFixed(2)} s vs ${(s.capturedMs / 1000).toFixed(2)} s captured`);
      expect(Math.abs(d - s.capturedMs / 1000) / (s.capturedMs / 1000)).toBeLessThan(0.02);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
