import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { apiCall, signIn, untilOk } from "../support/admin.ts";
import { artifact, launchChromium, signInOnPage } from "../support/browser.ts";
import { startCluster, type ProcessCluster } from "../support/cluster-fixture.ts";
import { contentTypeOf, makeChunks } from "../support/media.ts";
import type { RterProcess } from "../support/rter-process.ts";

// The incident timeline with two streams still on air: chunks keep arriving through the API while
// the operator has scrubbed back a few seconds before a hole in one live playlist (seconds the
// phone lost), and the two players must stay on one wall clock (PROGRAM-DATE-TIME) through it as
// they do for finished recordings. docs/timeline.md ("Streams still live") says why they did not.

let cluster: ProcessCluster;
let node: RterProcess;
let browser: Browser;
let context: BrowserContext | undefined;
const PASSWORD = "correct horse battery";
const users = { r1: "live-r1@city.example", r2: "live-r2@city.example", op: "live-op@city.example" };
const tokens: Record<string, string> = {};
const HERE = { lat: 45.5048, lng: -73.5772 };

beforeAll(async () => {
  cluster = await startCluster({ RTER_LOG_LEVEL: "warn" }, { binary: true });
  node = await cluster.ready();
  await cluster.addUsers(PASSWORD, [
    [users.r1, "reporter"],
    [users.r2, "reporter"],
    [users.op, "operator"],
  ]);
  for (const email of Object.values(users)) tokens[email] = (await signIn(node.url, { email, password: PASSWORD })).token;
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await context?.close().catch(() => {});
  await browser?.close().catch(() => {});
  await cluster?.stop();
});

const call = (email: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  apiCall(node.url, tokens[email], method, path, body, { headers, signal: AbortSignal.timeout(30_000) });

/** The spans of wall-clock time (ms) a media playlist covers, by PROGRAM-DATE-TIME and EXTINF (pieces 100 ms apart or closer join). */
function runs(playlist: string): { from: number; to: number }[] {
  const out: { from: number; to: number }[] = [];
  let pdt: number | null = null;
  for (const line of playlist.split("\n")) {
    if (line.startsWith("#EXT-X-PROGRAM-DATE-TIME:")) pdt = Date.parse(line.slice(25));
    else if (line.startsWith("#EXTINF:") && pdt !== null) {
      const end = pdt + parseFloat(line.slice(8)) * 1000;
      const last = out[out.length - 1];
      if (last && pdt - last.to <= 100) last.to = end;
      else out.push({ from: pdt, to: end });
    }
  }
  return out;
}

test("two streams still live, scrubbed back on the timeline, play on one wall clock while chunks keep arriving", async () => {
  // Reporter 2 started recording 2.5 s after reporter 1: played from the same media position the
  // two would be 2.5 s apart, so only PROGRAM-DATE-TIME puts them together.
  const R2_LATE = 2_500;
  // 20 chunks of one continuous pattern (1 s each), sent over and over: each is self-contained
  // and its capture time comes with it, so the pictures repeat but the clock does not.
  const chunks = await makeChunks("ts-h264-aac", 20, 1, "320x240");
  const TOTAL = 150;
  // Each chunk is uploaded once its second of capture is over, like a phone does.
  const t0 = Date.now();
  const reporters = [
    { email: users.r1, start: t0, at: HERE },
    { email: users.r2, start: t0 + R2_LATE, at: { lat: HERE.lat + 0.002, lng: HERE.lng } },
  ];
  const streams: string[] = [];
  const sent = [0, 0];
  const put = async (k: number, seq: number) => {
    const r = reporters[k]!;
    const res = await call(r.email, "PUT", `/api/v1/streams/${streams[k]}/chunks/${seq}`, chunks[seq % chunks.length]!, {
      "content-type": contentTypeOf("ts-h264-aac"),
      "x-chunk-start": String(r.start + seq * 1000),
    });
    expect(res.status).toBe(201);
  };
  for (const [k, r] of reporters.entries()) {
    const s = await call(r.email, "POST", "/api/v1/streams", { title: `live angle ${k + 1}`, lat: r.at.lat, lng: r.at.lng });
    expect(s.status).toBe(201);
    streams.push(s.body.id);
  }
  // Reporter 1 loses seconds 24-26 (never sent, as a phone that dropped them): after the gap wait
  // its live playlist goes on with a discontinuity and a hole there.
  const LOST = new Set([24, 25, 26]);
  const HOLE = { from: t0 + 24_000, to: t0 + 27_000 };
  // The uploader: every chunk whose second of capture is over, in order, until stopped.
  let uploading = true;
  const uploads = (async () => {
    while (uploading) {
      for (const [k, r] of reporters.entries()) {
        while (sent[k]! < TOTAL && r.start + (sent[k]! + 1) * 1000 <= Date.now()) {
          const seq = sent[k]!++;
          if (k > 0 || !LOST.has(seq)) await put(k, seq);
        }
      }
      await Bun.sleep(100);
    }
  })();
  try {
    // Scrubbed back to 4 s before reporter 1's hole and played 16 s: through the hole and on.
    // When the worker falls behind (2 chunks waiting) a live playlist also jumps to the newest
    // chunk, leaving a hole of its own until the stream ends (segmenting.service.ts), so what
    // each playlist covers is read from it, not assumed.
    const PLAY = 16_000;
    const at = HOLE.from - 4_000;
    const runsOf = async (id: string) =>
      runs(await (await fetch(`${node.url}/api/v1/streams/${id}/hls/index.m3u8`, { headers: { authorization: `Bearer ${tokens[users.op]}` } })).text());
    let seen = "";
    const holes = await untilOk(
      "both live playlists past the instant to play to",
      async () => {
        const rs = await Promise.all(streams.map(runsOf));
        seen = rs.map((r) => r.map((x) => `${x.from - t0}..${x.to - t0}`).join(" ")).join(" | ");
        return rs.every((r) => r.length && r[r.length - 1]!.to > at + PLAY + 2_000) ? rs.reduce((n, r) => n + r.length - 1, 0) : null;
      },
      120_000,
    ).catch((e) => {
      throw new Error(`${(e as Error).message}; live playlists cover (ms after t0): ${seen}; chunks sent ${sent.join("/")}`);
    });
    console.log(
      `[web] live timeline: scrubbing to ${at - t0} ms after reporter 1 started (holes in the live playlists: ${holes}; they cover, ms after t0: ${seen}), chunks sent ${sent.join("/")}`,
    );

    context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    context.on("weberror", (e) => console.error(`[web] page error: ${e.error().message}`));
    const page: Page = await context.newPage();
    const born = Date.now();
    if (process.env.RTER_TRACE_HLS)
      page.on(
        "console",
        (m) =>
          /live|sliding|startPosition|too far|seek|stall|gap|Loading|Loaded|level|playlist/i.test(m.text()) &&
          console.log(`[page +${Date.now() - born}] ${m.text().slice(0, 300)}`),
      );
    await signInOnPage(page, `${node.url}/`, users.op, PASSWORD);
    await page.locator("#conn[data-state=live]").waitFor({ timeout: 15_000 });
    await page.getByRole("button", { name: "Timeline" }).click();
    await page.locator("#timeline-panel:not([hidden])").waitFor();
    for (const id of streams) await page.locator(`#timeline-lanes .lane[data-stream="${id}"] .span.live`).first().waitFor({ timeout: 10_000 });

    await page.locator("#timeline-scrub").evaluate((el, v) => {
      (el as HTMLInputElement).value = String(v);
      el.dispatchEvent(new Event("change"));
    }, at);
    // Until both show the clock's instant (bounded), then 10 s of playing, sampled every 250 ms:
    // the two players' dates, the clock, each video's state.
    const trace: string[] = [];
    const sample = async (since: number) => {
      const [d, clock, videos] = await page.evaluate(
        () =>
          [
            (window as any).rterConsole.timelineDates() as Record<string, number | null>,
            Number(document.getElementById("timeline-at")?.dataset.at),
            [...document.querySelectorAll<HTMLVideoElement>("#timeline-players video")].map(
              (v) => `${v.currentTime.toFixed(2)}/${v.duration.toFixed(1)}${v.seeking ? " seeking" : ""}${v.paused ? " paused" : ""} rs${v.readyState}`,
            ),
          ] as const,
      );
      const [a, b] = streams.map((id) => d[id]);
      trace.push(
        `+${Date.now() - since} clock ${clock - t0} a ${typeof a === "number" ? Math.round(a - t0) : a} b ${typeof b === "number" ? Math.round(b - t0) : b} [${videos.join(", ")}] sent ${sent.join("/")}`,
      );
      return [a, b, clock] as const;
    };
    const scrubbed = Date.now();
    try {
      await untilOk(
        "both streams playing at the clock's instant",
        async () => {
          const [a, b, clock] = await sample(scrubbed);
          return typeof a === "number" && typeof b === "number" && Math.abs(a - clock) < 1_500 && Math.abs(b - clock) < 1_500;
        },
        30_000,
      );
    } catch (e) {
      const spans = await page.$$eval("#timeline-lanes .lane[data-stream] .span", (els) =>
        els.map(
          (e) => `${(e.closest(".lane") as HTMLElement).dataset.stream} ${(e as HTMLElement).dataset.from} ${(e as HTMLElement).dataset.to} ${e.className}`,
        ),
      );
      console.log(
        `[web] live timeline trace (ms after t0 ${new Date(t0).toISOString()}):\n${trace.join("\n")}\nspans:\n${spans.join("\n")}\nstatus: ${await page.locator("#timeline-status").textContent()} alerts: ${await page.locator("body").evaluate(() => JSON.stringify((window as any).rterConsole.alerts()))}`,
      );
      await page.screenshot({ path: artifact("timeline-live-failed.png") });
      throw e;
    }
    console.log(`[web] live timeline: both players on the clock ${Date.now() - scrubbed} ms after the scrub`);
    trace.length = 0;

    const samples: { a: number; b: number; clock: number }[] = [];
    const sampleFrom = Date.now();
    for (let k = 0; k < 200 && Date.now() - sampleFrom < PLAY; k++) {
      await Bun.sleep(250);
      const [a, b, clock] = await sample(sampleFrom);
      if (typeof a === "number" && typeof b === "number") samples.push({ a, b, clock });
    }
    // Compared where both playlists have media at the clock's instant (a player in a hole stands
    // on the first frame after it, ahead of the clock, until the clock gets there).
    const cover = await Promise.all(streams.map(runsOf));
    const inside = (rs: { from: number; to: number }[], t: number) => rs.some((r) => r.from + 300 <= t && t <= r.to - 300);
    const both = samples.filter((x) => cover.every((rs) => inside(rs, x.clock)));
    const gaps = both.map((x) => Math.abs(x.a - x.b));
    // The hole as the live playlist has it: it ends where reporter 1's media resumed (the gap wait
    // can keep a chunk or two after the lost ones out of the live list as well).
    const resumed = cover[0]!.find((r) => r.from >= HOLE.from)?.from ?? HOLE.to;
    const after = both.filter((x) => x.clock > resumed);
    const max = Math.max(...gaps);
    const sorted = [...gaps].sort((x, y) => x - y);
    console.log(
      `[web] live timeline: PDT gap of two live streams where both have media: max ${Math.round(max)} ms, median ${Math.round(sorted[sorted.length >> 1]!)} ms over ${gaps.length} samples (${after.length} after reporter 1's hole ${HOLE.from - t0}..${resumed - t0} ms; ${samples.length} samples in ${Date.now() - sampleFrom} ms); clock ${samples[0]!.clock - t0} -> ${samples[samples.length - 1]!.clock - t0} ms after t0; chunks sent ${sent.join("/")}`,
    );
    if (!(max < 500) || after.length <= 3) console.log(`[web] live timeline trace (ms after t0):\n${trace.join("\n")}`);
    await page.screenshot({ path: artifact("timeline-live-playing.png") });
    // Still live while sampled (chunks kept coming), and played on through the hole.
    expect(sent.every((n) => n >= Math.ceil((at + PLAY - t0) / 1000))).toBe(true);
    expect(gaps.length).toBeGreaterThan(12);
    expect(after.length).toBeGreaterThan(3);
    // Generous for a loaded machine; the figure printed above is what was measured.
    expect(max).toBeLessThan(1_500);
  } finally {
    uploading = false;
    await uploads.catch(() => {});
  }
}, 240_000);
