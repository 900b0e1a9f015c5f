import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { signIn as apiSignIn, untilOk } from "../support/admin.ts";
import { artifact, launchChromium, signInOnPage } from "../support/browser.ts";
import { startCluster, type ProcessCluster } from "../support/cluster-fixture.ts";
import type { RterProcess } from "../support/rter-process.ts";

// The web app against the real appliance: the compiled binary (UI embedded), Postgres, MinIO and
// the ffmpeg worker; Debian's Chromium with a fake camera as the reporter's phone, and operators
// on two API nodes. Figures (chunk gap, glass-to-glass latency) are printed.

let cluster: ProcessCluster;
let nodeA: RterProcess; // api, worker, web
let nodeB: RterProcess; // api, web
let browser: Browser;
const contexts: BrowserContext[] = [];
const PASSWORD = "correct horse battery";
const users = { reporter: "reporter@city.example", op1: "op1@city.example", op2: "op2@city.example" };
let opToken = "";
// Downtown Montreal; the reporter looks east.
const HERE = { latitude: 45.5017, longitude: -73.5673 };

beforeAll(async () => {
  cluster = await startCluster({ RTER_LOG_LEVEL: "warn" }, { binary: true });
  nodeA = await cluster.ready();
  nodeB = await cluster.ready("--roles", "api,web");
  await cluster.addUsers(PASSWORD, [
    [users.reporter, "reporter"],
    [users.op1, "operator"],
    [users.op2, "operator"],
  ]);
  opToken = (await apiSignIn(nodeA.url, { email: users.op1, password: PASSWORD })).token;
  browser = await launchChromium({ fakeCamera: true });
}, 180_000);

afterAll(async () => {
  await Promise.all(contexts.map((c) => c.close().catch(() => {})));
  await browser?.close().catch(() => {});
  await cluster?.stop();
});

async function newContext(kind: "phone" | "desk"): Promise<BrowserContext> {
  const c =
    kind === "phone"
      ? await browser.newContext({
          viewport: { width: 390, height: 844 },
          deviceScaleFactor: 2,
          isMobile: true,
          hasTouch: true,
          geolocation: HERE,
          permissions: ["geolocation", "camera", "microphone"],
        })
      : await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  contexts.push(c);
  // Script errors in the pages show in the test output.
  c.on("weberror", (e) => console.error(`[web] page error (${kind}): ${e.error().message}`));
  return c;
}

async function apiGet(path: string): Promise<any> {
  const r = await fetch(`${nodeA.url}${path}`, { headers: { authorization: `Bearer ${opToken}` } });
  return r.json();
}

async function apiPost(path: string, body: unknown): Promise<any> {
  const r = await fetch(`${nodeA.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${opToken}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return r.json();
}

const reporterStats = (page: Page) =>
  page.evaluate(() => (window as any).rterReporter.stats()) as Promise<{
    streamId: string | null;
    recording: boolean;
    sent: number;
    recorded: number;
    queued: number;
    gaps: number[];
    mime: string;
  }>;

/** Video of the stream's tile is playing: currentTime advances. */
async function tilePlaying(page: Page, streamId: string): Promise<boolean> {
  const sel = `.tile[data-stream="${streamId}"] video`;
  const t1 = await page.$eval(sel, (v) => (v as HTMLVideoElement).currentTime).catch(() => -1);
  if (t1 <= 0) return false;
  await Bun.sleep(400);
  const t2 = await page.$eval(sel, (v) => (v as HTMLVideoElement).currentTime).catch(() => -1);
  return t2 > t1;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

describe("web app journeys (Chromium, compiled binary, two API nodes)", () => {
  let reporter: Page;
  let op1: Page;
  let op2: Page;
  let streamId = "";

  test("a reporter goes live; operators on both nodes see it playing and on the map; guidance reaches the reporter", async () => {
    const [rc, c1, c2] = await Promise.all([newContext("phone"), newContext("desk"), newContext("desk")]);
    [reporter, op1, op2] = await Promise.all([rc.newPage(), c1.newPage(), c2.newPage()]);
    await Promise.all([
      signInOnPage(reporter, `${nodeA.url}/report?quality=low&capture=classic`, users.reporter, PASSWORD),
      signInOnPage(op1, `${nodeA.url}/`, users.op1, PASSWORD),
      signInOnPage(op2, `${nodeB.url}/`, users.op2, PASSWORD),
    ]);
    await reporter.getByRole("button", { name: "Go live" }).waitFor({ timeout: 10_000 });
    await op1.locator("#grid-empty").waitFor({ timeout: 10_000 });

    const t0 = Date.now();
    await reporter.getByRole("button", { name: "Go live" }).click();
    await reporter.getByRole("button", { name: "Stop" }).waitFor({ timeout: 10_000 });
    // The compass: heading 90° (east). Chromium gives absolute orientation as 360 - alpha.
    await reporter.evaluate(() =>
      window.dispatchEvent(new DeviceOrientationEvent("deviceorientationabsolute", { alpha: 270, beta: 90, gamma: 0, absolute: true })),
    );
    streamId = await untilOk("the stream id", async () => (await reporterStats(reporter)).streamId, 10_000);

    await untilOk("the stream playing on node A's console", () => tilePlaying(op1, streamId), 20_000);
    const toPlaying = (Date.now() - t0) / 1000;
    await untilOk("the stream playing on node B's console", () => tilePlaying(op2, streamId), 15_000);
    console.log(`[web] go live → playing in the operator's grid: ${toPlaying.toFixed(1)} s (MediaRecorder ${(await reporterStats(reporter)).mime})`);
    // Figures are printed, not asserted (tests never assert timings; bench/glass-to-glass.ts measures).
    // Its marker (and heading cone) on the map.
    await untilOk("a map marker", async () => (await op1.locator("#map path.leaflet-interactive").count()) > 0, 10_000);

    // Glass to glass: the wall-clock time of the frame on screen (PROGRAM-DATE-TIME, set from the
    // chunk's capture start) against the clock, sampled over a few seconds of playback.
    const samples: number[] = [];
    for (let i = 0; i < 12; i++) {
      await Bun.sleep(500);
      const l = await op1.evaluate((id) => (window as any).rterConsole.latency(id), streamId);
      if (typeof l === "number") samples.push(l);
    }
    console.log(
      `[web] glass-to-glass latency: median ${median(samples).toFixed(2)} s, min ${Math.min(...samples).toFixed(2)} s, max ${Math.max(...samples).toFixed(2)} s (goal < 4 s)`,
    );
    expect(samples.length).toBeGreaterThan(5);

    // Guidance: the operator focuses the stream and points the reporter south with a message.
    await op1.locator(`.tile[data-stream="${streamId}"]`).click();
    await op1.getByLabel("Target heading").fill("180");
    await op1.getByLabel("Message").fill("Point at the bridge");
    const tg = Date.now();
    await op1.getByRole("button", { name: "Send guidance" }).click();
    await reporter.getByText("Point at the bridge").waitFor({ timeout: 3_000 });
    const guidanceMs = Date.now() - tg;
    console.log(`[web] guidance on the reporter's screen ${guidanceMs} ms after the operator sent it`);
    expect(await reporter.getByRole("img", { name: /Turn right 90°/ }).count()).toBe(1);
    // The reporter turns to 178°: on target, on both screens.
    await reporter.evaluate(() =>
      window.dispatchEvent(new DeviceOrientationEvent("deviceorientationabsolute", { alpha: 182, beta: 90, gamma: 0, absolute: true })),
    );
    await reporter.getByRole("img", { name: "On target" }).waitFor({ timeout: 3_000 });
    await untilOk("operator sees on target", async () => (await op1.locator("#guidance-status").getAttribute("data-on-target")) === "yes", 5_000);

    await reporter.screenshot({ path: artifact("web-reporter-live.png") });
    await op1.screenshot({ path: artifact("web-console-live.png") });
  }, 90_000);

  test("15 s offline while live loses nothing: every chunk arrives, the recording has no missing seq", async () => {
    expect(streamId).not.toBe("");
    const ctx = reporter.context();
    await ctx.setOffline(true);
    await Bun.sleep(15_000);
    const offline = await reporterStats(reporter);
    expect(offline.queued).toBeGreaterThanOrEqual(10);
    await reporter.screenshot({ path: artifact("web-reporter-offline.png") });
    await ctx.setOffline(false);
    const tBack = Date.now();
    await untilOk("the outbox to drain", async () => (await reporterStats(reporter)).queued === 0, 45_000);
    console.log(`[web] ${offline.queued} chunks kept during 15 s offline, all sent ${((Date.now() - tBack) / 1000).toFixed(1)} s after the network returned`);
    await Bun.sleep(2_000);
    await reporter.getByRole("button", { name: "Stop" }).click();
    await reporter.getByRole("button", { name: "Go live" }).waitFor({ timeout: 10_000 });
    const s = await reporterStats(reporter);
    const stream = await untilOk(
      "the stream finished with its recording",
      async () => {
        const v = await apiGet(`/api/v1/streams/${streamId}`);
        return v.state === "finished" && v.recording ? v : null;
      },
      100_000,
    ).catch(async (e) => {
      console.error("[web] stream:", JSON.stringify(await apiGet(`/api/v1/streams/${streamId}`)), "reporter:", JSON.stringify(await reporterStats(reporter)));
      const pgc = new (await import("pg")).default.Client({ connectionString: cluster.env.DATABASE_URL });
      await pgc.connect();
      for (const q of [
        `select seq, state, received_at from chunks where stream_id = '${streamId}' order by seq`,
        `select seq, late, discontinuity, created_at from segments where stream_id = '${streamId}' order by seq`,
        `select * from graphile_worker.jobs`,
      ]) {
        console.error(JSON.stringify((await pgc.query(q)).rows));
      }
      await pgc.end();
      console.error(
        "[web] node A log tail:\n" +
          nodeA
            .output()
            .split("\n")
            .filter((l) => /warn|error/i.test(l))
            .slice(-30)
            .join("\n"),
      );
      throw e;
    });
    expect(stream.chunks).toBe(s.recorded);
    expect(stream.failed_chunks).toEqual([]);
    const playlist = await (await fetch(`${nodeA.url}${stream.playlist_url}`, { headers: { authorization: `Bearer ${opToken}` } })).text();
    expect(playlist).toContain("#EXT-X-ENDLIST");
    const seqs = [...playlist.matchAll(/segments\/(\d+)\.ts/g)].map((m) => Number(m[1]));
    expect(seqs).toEqual(Array.from({ length: s.recorded }, (_, i) => i));
    // The real gap between chunks: where each segment starts against where the previous one ended.
    const pdt = [...playlist.matchAll(/#EXT-X-PROGRAM-DATE-TIME:(\S+)\n#EXTINF:([\d.]+)/g)].map((m) => ({ t: Date.parse(m[1]!), d: Number(m[2]) * 1000 }));
    const gaps = pdt.slice(1).map((p, i) => p.t - (pdt[i]!.t + pdt[i]!.d));
    console.log(
      `[web] chunk gap on the capture clock over ${gaps.length} boundaries: median ${median(gaps).toFixed(0)} ms, max ${Math.max(...gaps).toFixed(0)} ms; recorder restart ${median(s.gaps)} ms median (browser); ${s.recorded} chunks, recording ${stream.recording.size} bytes`,
    );
    expect(median(gaps)).toBeLessThan(150);
  }, 170_000);

  test("the reporter page reloaded while offline keeps what it recorded, asks for no password, and sends it all when the network returns", async () => {
    // Once online first, so the service worker controls the page and keeps its copy.
    await reporter.reload();
    await reporter.getByRole("button", { name: "Go live" }).click();
    await untilOk("recording again", async () => (await reporterStats(reporter)).recording && (await reporterStats(reporter)).sent >= 2, 20_000);
    const id = (await reporterStats(reporter)).streamId!;
    const ctx = reporter.context();
    await ctx.setOffline(true);
    await untilOk("chunks kept offline", async () => (await reporterStats(reporter)).queued >= 3, 20_000);
    const before = await reporterStats(reporter);
    await Bun.sleep(300); // the last chunk's IndexedDB write
    await reporter.reload();
    // Offline after the reload: the page says what it keeps instead of asking to sign in.
    await reporter.locator("#join-status", { hasText: "Offline:" }).waitFor({ timeout: 15_000 });
    expect(await reporter.locator("#login").isHidden()).toBe(true);
    await reporter.screenshot({ path: artifact("web-reporter-offline-reload.png") });
    await ctx.setOffline(false);
    await reporter.getByRole("button", { name: "Go live" }).waitFor({ timeout: 20_000 });
    await untilOk("the kept chunks to upload", async () => (await reporterStats(reporter)).queued === 0, 45_000);
    const stream = await apiGet(`/api/v1/streams/${id}`);
    // Everything recorded before the reload is on the server, with no hole in the seqs.
    expect(stream.chunks).toBeGreaterThanOrEqual(before.recorded);
    const pgc = new (await import("pg")).default.Client({ connectionString: cluster.env.DATABASE_URL });
    await pgc.connect();
    const seqs = (await pgc.query("select seq from chunks where stream_id = $1 order by seq", [id])).rows.map((r: { seq: number }) => r.seq);
    await pgc.end();
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i));
    console.log(
      `[web] offline reload: ${before.queued} chunks waiting at the reload, ${seqs.length} chunks on the server afterwards, seqs 0..${seqs.length - 1} without a hole`,
    );
    expect((await apiPost(`/api/v1/streams/${id}/finish`, {})).state).toBe("finished");
  }, 120_000);

  test("two operators in one workspace: a re-order and a new tag appear in the other without reloading", async () => {
    const ids: string[] = [];
    for (const title of ["Smoke over Berri St", "Crowd at the square", "Water on Rue Ste-Catherine"]) {
      ids.push((await apiPost("/api/v1/items", { kind: "text", title, body: "", lat: 45.5 + ids.length * 0.002, lng: -73.57, tags: ["fire"] })).id);
    }
    await Promise.all([op1.goto(`${nodeA.url}/#tag=fire`), op2.goto(`${nodeB.url}/#tag=fire`)]);
    const order = (p: Page) => p.$$eval("#item-list > li", (lis) => lis.map((li) => (li as HTMLElement).dataset.id));
    const same = (want: string[]) => async () => JSON.stringify(await order(op2)) === JSON.stringify(want);
    // The pages may already be open (then only the hash changes): wait for the workspace itself,
    // not for any three items the "All items" view shows on the way.
    const isWorkspace = async (p: Page) => JSON.stringify([...(await order(p))].sort()) === JSON.stringify([...ids].sort());
    await untilOk("both consoles list the workspace", async () => (await isWorkspace(op1)) && (await isWorkspace(op2)), 10_000);
    expect(await order(op2)).toEqual(ids);

    // Drag the last item to the top.
    await op1.locator(`#item-list > li[data-id="${ids[2]}"]`).dragTo(op1.locator(`#item-list > li[data-id="${ids[0]}"]`), { targetPosition: { x: 20, y: 3 } });
    await untilOk("op2 sees the dragged order", same([ids[2]!, ids[0]!, ids[1]!]), 5_000);
    // And with the keyboard-friendly buttons.
    await op1.getByRole("button", { name: "Move Crowd at the square up" }).click();
    await untilOk("op2 sees the moved order", same([ids[2]!, ids[1]!, ids[0]!]), 5_000);
    expect(await op1.evaluate(() => (window as any).rterConsole.order())).toEqual([ids[2], ids[1], ids[0]]);

    await op1.getByLabel("Add tag to Smoke over Berri St", { exact: true }).fill("urgent");
    await op1.getByLabel("Add tag to Smoke over Berri St", { exact: true }).press("Enter");
    await op2.locator(`#item-list > li[data-id="${ids[0]}"] .chip`, { hasText: "#urgent" }).waitFor({ timeout: 5_000 });
    await op2.getByRole("button", { name: /^#urgent/ }).waitFor({ timeout: 5_000 });
    await op1.screenshot({ path: artifact("web-console-workspace.png") });
  }, 60_000);

  test("replay: a finished stream plays with its map marker following the telemetry clock", async () => {
    await op1.goto(`${nodeA.url}/`);
    await op1
      .getByRole("button", { name: /^Replay the stream of reporter@city.example/ })
      .first()
      .click();
    await untilOk("replay playing", async () => (await op1.evaluate(() => (window as any).rterConsole.focusPlayingDate())) !== null, 15_000);
    const at = await op1.evaluate(() => (window as any).rterConsole.focusPlayingDate());
    const pos = await op1.evaluate(() => (window as any).rterConsole.replayPosition());
    expect(pos).not.toBeNull();
    expect(Math.abs(pos.lat - HERE.latitude)).toBeLessThan(0.001);
    // The marker is the telemetry sample of the frame on screen: at most a couple of seconds apart.
    expect(Math.abs(pos.t - at)).toBeLessThan(3_000);
    await op1.screenshot({ path: artifact("web-console-replay.png") });
  }, 40_000);

  test("the reporter page is installable: manifest, service worker and icon come from the binary", async () => {
    // Stands alone: runs with -t as well as after the journeys.
    const manifest = await fetch(`${nodeB.url}/manifest.webmanifest`);
    expect(manifest.headers.get("content-type")).toContain("application/manifest+json");
    expect(((await manifest.json()) as { start_url: string }).start_url).toBe("/report");
    const sw = await fetch(`${nodeB.url}/sw.js`);
    expect(sw.headers.get("content-type")).toContain("javascript");
    expect(await sw.text()).toContain('addEventListener("fetch"');
    expect((await fetch(`${nodeB.url}/icon.svg`)).headers.get("content-type")).toContain("image/svg+xml");
    expect((await fetch(`${nodeB.url}/join/some-token`)).headers.get("content-type")).toContain("text/html");
    const page = await (await newContext("phone")).newPage();
    await page.goto(`${nodeB.url}/report`);
    const registered = await page.evaluate(async () => (await navigator.serviceWorker.ready).active?.scriptURL ?? null);
    expect(registered).toContain("/sw.js");
    expect(await page.locator('link[rel="manifest"]').getAttribute("href")).toBe("/manifest.webmanifest");
  });

  test("an operator's invite link signs a new reporter in and opens the capture page", async () => {
    const probe = await fetch(`${nodeA.url}/api/v1/invites`, {
      method: "POST",
      headers: { authorization: `Bearer ${opToken}`, "content-type": "application/json" },
      body: "{}",
    });
    if (probe.status === 404) {
      console.warn("[web] POST /api/v1/invites is not there yet (issue 5): invite journey not exercised");
      return;
    }
    await op1.getByRole("button", { name: "Invite reporter" }).click();
    const url = await untilOk("the invite link", async () => (await op1.getByLabel("Invite link").inputValue()) || null, 5_000);
    expect(url).toContain("/join/");
    const phone = await (await newContext("phone")).newPage();
    await phone.goto(url);
    await phone.getByRole("button", { name: "Go live" }).waitFor({ timeout: 10_000 });
    expect(new URL(phone.url()).pathname).toBe("/report");
  }, 30_000);
});
