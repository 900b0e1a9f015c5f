import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { readTar } from "../../core/evidence/tar-reader.ts";
import { apiCall, signIn, untilOk } from "../support/admin.ts";
import { artifact, launchChromium, signInOnPage } from "../support/browser.ts";
import { startCluster, type ProcessCluster } from "../support/cluster-fixture.ts";
import { contentTypeOf, makeChunks } from "../support/media.ts";
import type { RterProcess } from "../support/rter-process.ts";

// The incident room in the operator console, against the compiled binary on two API nodes with
// Postgres, MinIO and the ffmpeg worker: comments and edits reach a second operator's console
// live, search by words and by the map's view, the items list pages past 500, the direction lock
// is taken over between two operators, and the timeline plays two streams on one wall clock.
// Screenshots of each view go to artifacts/.

let cluster: ProcessCluster;
let nodeA: RterProcess; // api, worker, web
let nodeB: RterProcess; // api, web
let browser: Browser;
const contexts: BrowserContext[] = [];
const PASSWORD = "correct horse battery";
const users = { r1: "r1@city.example", r2: "r2@city.example", op1: "op1@city.example", op2: "op2@city.example" };
const tokens: Record<string, string> = {};
// Downtown Montreal (the console's default view) and Quebec City (far outside it).
const HERE = { lat: 45.5048, lng: -73.5772 };
const FAR = { lat: 46.8139, lng: -71.208 };

beforeAll(async () => {
  // Paging past 500 items needs more than 500 writes a minute from one operator.
  cluster = await startCluster({ RTER_LOG_LEVEL: "warn", RTER_RATE_LIMIT: "20000/1m" }, { binary: true });
  nodeA = await cluster.ready();
  nodeB = await cluster.ready("--roles", "api,web");
  await cluster.addUsers(PASSWORD, [
    [users.r1, "reporter"],
    [users.r2, "reporter"],
    [users.op1, "operator"],
    [users.op2, "operator"],
  ]);
  for (const email of Object.values(users)) tokens[email] = (await signIn(nodeA.url, { email, password: PASSWORD })).token;
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await Promise.all(contexts.map((c) => c.close().catch(() => {})));
  await browser?.close().catch(() => {});
  await cluster?.stop();
});

const call = (email: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  apiCall(nodeA.url, tokens[email], method, path, body, { headers });

async function console_(node: RterProcess, email: string): Promise<Page> {
  const c = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  contexts.push(c);
  c.on("weberror", (e) => console.error(`[web] page error (${email}): ${e.error().message}`));
  c.on("response", (r) => r.status() >= 400 && console.error(`[web] ${r.status()} ${r.request().method()} ${r.url()} (${email})`));
  const page = await c.newPage();
  await signInOnPage(page, `${node.url}/`, email, PASSWORD);
  await page.locator("#conn[data-state=live]").waitFor({ timeout: 15_000 });
  return page;
}

/** What a tile's video shows: frames presented so far, its clock, the share of non-dark pixels of its current frame. */
async function frameOf(tile: ReturnType<Page["locator"]>): Promise<{ frames: number; time: number; lit: number }> {
  return tile.locator("video").evaluate((v: HTMLVideoElement) => {
    const c = document.createElement("canvas");
    c.width = 64;
    c.height = 48;
    const g = c.getContext("2d")!;
    g.drawImage(v, 0, 0, c.width, c.height);
    const px = g.getImageData(0, 0, c.width, c.height).data;
    let lit = 0;
    for (let i = 0; i < px.length; i += 4) if (px[i]! + px[i + 1]! + px[i + 2]! > 60) lit++;
    return { frames: v.getVideoPlaybackQuality().totalVideoFrames, time: v.currentTime, lit: lit / (px.length / 4) };
  });
}

const rowTitle = (page: Page, id: string) => page.locator(`#item-list li[data-id="${id}"] .item-title`);
const listedIds = (page: Page) => page.$$eval("#item-list li[data-id]", (lis) => lis.map((li) => (li as HTMLElement).dataset.id!));

describe("incident room (Chromium, compiled binary, two API nodes)", () => {
  let op1: Page;
  let op2: Page;
  /** The two operators' consoles, one per API node (opened by whichever test runs first). */
  const consoles = async () => {
    if (!op1) [op1, op2] = await Promise.all([console_(nodeA, users.op1), console_(nodeB, users.op2)]);
  };

  test("comments and edits appear live in a second operator's console; a held item says why it refuses", async () => {
    await consoles();
    const item = await call(users.r1, "POST", "/api/v1/items", {
      kind: "text",
      title: "Tree down on Elm",
      body: "blocking both lanes",
      lat: HERE.lat,
      lng: HERE.lng,
    });
    expect(item.status).toBe(201);
    const id = item.body.id as string;
    for (const p of [op1, op2]) {
      await rowTitle(p, id).waitFor({ timeout: 10_000 });
      await rowTitle(p, id).click();
      await p.locator("#comments:not([hidden])").waitFor({ timeout: 5_000 });
    }
    await op1.getByLabel("Add a comment").fill("crew dispatched, ETA 10 min <b>now</b>");
    await op1.getByRole("button", { name: "Post comment" }).click();
    await untilOk(
      "the comment on the second console",
      async () => (await op2.locator("#comment-list").textContent())?.includes("crew dispatched, ETA 10 min <b>now</b>"),
      10_000,
    );
    // Text, never markup.
    expect(await op2.locator("#comment-list b").count()).toBe(0);
    expect(await op2.locator("#comment-list li").first().textContent()).toContain(users.op1);

    const edit = op1.locator("#edit-form");
    await edit.getByLabel("Title").fill("Tree cleared on Elm");
    await edit.getByLabel("Text").fill("one lane open");
    await edit.getByRole("button", { name: "Save changes" }).click();
    await untilOk("the edit on the second console's list", async () => (await rowTitle(op2, id).textContent()) === "Tree cleared on Elm", 10_000);
    await untilOk("the edit in the second console's focus", async () => (await op2.locator("#focus-body").textContent())?.includes("one lane open"), 10_000);
    expect(await op2.locator("#edit-form").getByLabel("Title").inputValue()).toBe("Tree cleared on Elm");
    await op2.screenshot({ path: artifact("incident-room-comments-edit.png") });

    // An evidence package of the focused item: progress by events, then the download link.
    await op2.getByRole("button", { name: "Export evidence" }).click();
    const link = await untilOk(
      "the package's download link",
      async () => ((await op2.locator("#export-download").count()) ? await op2.locator("#export-download").getAttribute("href") : null),
      60_000,
    );
    const pkg = await fetch(new URL(link, nodeB.url), { headers: { authorization: `Bearer ${tokens[users.op2]}` } });
    expect(pkg.status).toBe(200);
    const bytes = new Uint8Array(await pkg.arrayBuffer());
    expect(bytes.byteLength).toBeGreaterThan(1024);
    // The downloaded package verifies offline with the compiled binary; one flipped byte in the
    // items' file fails it, naming that file.
    const dir = mkdtempSync(join(tmpdir(), "rter-incident-export-"));
    try {
      writeFileSync(join(dir, "package.tar"), bytes);
      const ok = await cluster.cli("evidence", "verify", join(dir, "package.tar"));
      expect({ code: ok.code, err: ok.stderr }).toEqual({ code: 0, err: "" });
      const target = readTar(bytes).find((f) => f.path.endsWith("/items/items.json"))!;
      expect(target).toBeDefined();
      const bad = bytes.slice();
      bad[target.data.byteOffset + Math.floor(target.data.length / 2)]! ^= 0x01;
      writeFileSync(join(dir, "flipped.tar"), bad);
      const failed = await cluster.cli("evidence", "verify", join(dir, "flipped.tar"));
      expect(failed.code).toBe(1);
      expect(failed.stdout).toContain(`FAILED ${target.path.split("/").slice(1).join("/")}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(await op2.locator("#export-status").getAttribute("data-state")).toBe("ready");
    await op2.screenshot({ path: artifact("incident-room-export.png") });

    // Under legal hold the edit is refused and the operator is told why.
    expect((await call(users.op2, "POST", `/api/v1/items/${id}/hold`, { reason: "case 7" })).status).toBe(201);
    await edit.getByLabel("Title").fill("should not stick");
    await edit.getByRole("button", { name: "Save changes" }).click();
    await untilOk("the refusal", async () => (await op1.locator("#edit-status").textContent())?.includes("legal hold"), 10_000);
    expect(await op1.locator("#edit-status").getAttribute("data-refused")).toBe("409");
    expect((await call(users.op1, "GET", `/api/v1/items/${id}`)).body.title).toBe("Tree cleared on Elm");
  }, 90_000);

  test("search by words, then by the map's current view", async () => {
    await consoles();
    const mk = async (title: string, at: { lat: number; lng: number }) =>
      (await call(users.r2, "POST", "/api/v1/items", { kind: "text", title, lat: at.lat, lng: at.lng })).body.id as string;
    const near = await mk("Gas smell near the market", { lat: HERE.lat + 0.001, lng: HERE.lng + 0.001 });
    const far = await mk("Gas smell at the port", FAR);
    const other = await mk("Water main break", HERE);
    // A comment's words are found too.
    const commented = await mk("Noise complaint", HERE);
    expect((await call(users.op1, "POST", `/api/v1/items/${commented}/comments`, { body: "neighbours report a gas odour" })).status).toBe(201);

    await op1.getByRole("searchbox", { name: "Search" }).fill("gas");
    await op1.locator("#search-form").getByRole("button", { name: "Search", exact: true }).click();
    await untilOk("word results", async () => (await op1.locator("#search-status").textContent())?.includes("found"), 10_000);
    let ids = await listedIds(op1);
    expect(ids).toContain(near);
    expect(ids).toContain(far);
    expect(ids).not.toContain(other);
    await op1.screenshot({ path: artifact("incident-room-search.png") });
    expect(await op1.locator("#items-title").textContent()).toBe("Search results");

    // The map's view (Montreal) leaves Quebec City out.
    await op1.getByRole("button", { name: "Search this map view" }).click();
    await untilOk("bounded results", async () => (await op1.locator("#search-status").textContent())?.includes("in this map view"), 10_000);
    ids = await listedIds(op1);
    expect(ids).toContain(near);
    expect(ids).not.toContain(far);
    expect(ids).not.toContain(other);
    await op1.getByRole("button", { name: "Clear search" }).click();
    await untilOk("the full list again", async () => (await listedIds(op1)).includes(other), 5_000);
  }, 60_000);

  test("the items list pages past the newest 500 with load older", async () => {
    await consoles();
    // The item that ends up older than the newest 500.
    const oldest = (await call(users.r1, "POST", "/api/v1/items", { kind: "text", title: "first of the pile" })).body.id as string;
    await op2.locator(`#item-list li[data-id="${oldest}"]`).waitFor({ timeout: 10_000 });
    const before = Number(await op2.locator("#item-list").getAttribute("data-count"));
    // 520 more items from the operator (reporters have an hourly quota of 600).
    for (let k = 0; k < 520; k += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, j) => call(users.op2, "POST", "/api/v1/items", { kind: "text", title: `bulk ${k + j}` })));
    }
    const page = await console_(nodeB, users.op1);
    await untilOk("the first page", async () => Number(await page.locator("#item-list").getAttribute("data-count")) === 500, 15_000);
    expect(await page.locator(`#item-list li[data-id="${oldest}"]`).count()).toBe(0);
    await page.getByRole("button", { name: "Load older items" }).click();
    await untilOk("the older page", async () => Number(await page.locator("#item-list").getAttribute("data-count")) === before + 520, 15_000);
    expect(await page.locator(`#item-list li[data-id="${oldest}"]`).count()).toBe(1);
    // Nothing older remains: the button goes away.
    await untilOk("no more pages", async () => await page.locator("#load-older").isHidden(), 5_000);
    await page.context().close();
  }, 120_000);

  test("direction lock: the second operator sees who guides and takes over explicitly", async () => {
    await consoles();
    const s = await call(users.r1, "POST", "/api/v1/streams", { title: "bridge" });
    expect(s.status).toBe(201);
    const id = s.body.id as string;
    const item = (await call(users.op1, "GET", `/api/v1/items?kind=stream&q=bridge`)).body.find((i: any) => i.stream?.id === id);
    for (const p of [op1, op2]) {
      if (await p.locator("#search-clear").isVisible()) await p.locator("#search-clear").click();
      await rowTitle(p, item.id).waitFor({ timeout: 10_000 });
      await rowTitle(p, item.id).click();
      await p.locator("#guidance-form:not([hidden])").waitFor({ timeout: 10_000 });
    }
    await untilOk("free lock shown", async () => (await op1.locator("#lock-status").textContent())?.includes("Nobody guides"), 5_000);
    // Live, but no video has come yet: its tile says so over the picture, not a bare black box.
    const notice = op1.locator(`#grid .tile[data-stream="${id}"] .notice`);
    await untilOk("the tile's notice", async () => (await notice.isVisible()) && (await notice.textContent()) === "No video from the reporter yet", 10_000);
    expect(await op1.locator(`#grid .tile[data-stream="${id}"]`).getAttribute("data-state")).toBe("waiting");
    await op1.getByLabel("Target heading").fill("90");
    await op1.getByLabel("Message").fill("look east");
    await op1.getByRole("button", { name: "Send guidance" }).click();
    await untilOk("op1 holds the lock", async () => (await op1.locator("#lock-status").textContent())?.includes("You guide"), 10_000);
    await untilOk("op2 sees op1 guiding", async () => (await op2.locator("#lock-status").textContent()) === `${users.op1} guides this reporter.`, 10_000);
    expect(await op2.getByRole("button", { name: "Send guidance" }).isDisabled()).toBe(true);
    await op2.screenshot({ path: artifact("incident-room-lock-held.png") });
    // Behind the disabled button the API refuses too, naming the holder.
    const refused = await call(users.op2, "PUT", `/api/v1/streams/${id}/guidance`, { heading: 270 });
    expect(refused.status).toBe(409);
    expect(refused.body.holder.email).toBe(users.op1);

    await op2.getByRole("button", { name: "Take over direction" }).click();
    await untilOk("op2 holds the lock", async () => (await op2.locator("#lock-status").textContent())?.includes("You guide"), 10_000);
    await untilOk("op1 sees op2 guiding", async () => (await op1.locator("#lock-status").textContent()) === `${users.op2} guides this reporter.`, 10_000);
    expect(await op1.getByRole("button", { name: "Send guidance" }).isDisabled()).toBe(true);
    await op2.getByLabel("Target heading").fill("270");
    await op2.getByRole("button", { name: "Send guidance" }).click();
    await untilOk("op2's guidance stored", async () => (await call(users.op1, "GET", `/api/v1/streams/${id}/guidance`)).body?.heading === 270, 10_000);
    const audit = await call(users.op1, "GET", `/api/v1/streams/${id}/guidance/lock`);
    expect(audit.body.holder.email).toBe(users.op2);
    await op1.screenshot({ path: artifact("incident-room-lock-taken.png") });
  }, 60_000);

  test("the timeline shows two streams' lanes; scrubbing plays both on one wall clock", async () => {
    await consoles();
    // Two reporters recorded 8 seconds each, the second starting 2.5 s after the first (chunks
    // stamped with their capture start): played from the same media position they would be 2.5 s apart.
    const R2_LATE = 2_500;
    // Long enough that both still have media after a slow start on a busy machine.
    const SECONDS = 14;
    const t0 = Date.now() - 5 * 60_000;
    const streams: string[] = [];
    for (const [email, at] of [
      [users.r1, HERE],
      [users.r2, { lat: HERE.lat + 0.002, lng: HERE.lng }],
    ] as const) {
      const s = await call(email, "POST", "/api/v1/streams", { title: `angle of ${email}`, lat: at.lat, lng: at.lng });
      streams.push(s.body.id);
      const chunks = await makeChunks("ts-h264-aac", SECONDS, 1, "320x240");
      for (const [seq, bytes] of chunks.entries()) {
        const r = await call(email, "PUT", `/api/v1/streams/${s.body.id}/chunks/${seq}`, bytes, {
          "content-type": contentTypeOf("ts-h264-aac"),
          "x-chunk-start": String(t0 + seq * 1000 + (email === users.r2 ? R2_LATE : 0)),
        });
        expect(r.status).toBe(201);
      }
      const samples = Array.from({ length: SECONDS }, (_, k) => ({
        t: new Date(t0 + k * 1000 + (email === users.r2 ? R2_LATE : 0)).toISOString(),
        lat: at.lat + k * 1e-5,
        lng: at.lng,
        heading: email === users.r1 ? 90 : 180,
      }));
      expect((await call(email, "POST", `/api/v1/streams/${s.body.id}/telemetry`, { samples })).status).toBeLessThan(300);
      expect((await call(email, "POST", `/api/v1/streams/${s.body.id}/finish`)).status).toBeLessThan(300);
    }
    for (const id of streams)
      await untilOk(`segments of ${id}`, async () => (await call(users.op1, "GET", `/api/v1/streams/${id}`)).body.segments >= SECONDS, 60_000);
    // A busy hour: 120 older streams and 2100 reports (fixture rows) put the two angles on the
    // second page of lanes (100 a page) and the marks past the API's 2000 per answer.
    const db = new pg.Client({ connectionString: cluster.env.DATABASE_URL });
    await db.connect();
    try {
      const owner = (await db.query("select id from users where email = $1", [users.r1])).rows[0].id;
      await db.query(
        `insert into streams (owner_id, title, state, created_at, finished_at)
         select $1, 'older angle ' || n, 'finished', now() - interval '40 minutes' + n * interval '1 second', now() - interval '40 minutes' + n * interval '1 second' + interval '10 seconds'
         from generate_series(1, 120) n`,
        [owner],
      );
      await db.query(
        `insert into items (kind, author_id, title, created_at)
         select 'text', $1, 'busy report ' || n, now() - interval '30 minutes' + n * interval '100 milliseconds' from generate_series(1, 2100) n`,
        [owner],
      );
    } finally {
      await db.end();
    }
    const expected = await call(
      users.op1,
      "GET",
      `/api/v1/timeline?from=${encodeURIComponent(new Date(Date.now() - 3600_000).toISOString())}&to=${encodeURIComponent(new Date().toISOString())}&limit=200`,
    );
    expect(expected.body.lanes.length).toBeGreaterThanOrEqual(122);
    expect(expected.body.marks_truncated).toBe(true);

    await op1.getByRole("button", { name: "Timeline" }).click();
    await op1.locator("#timeline-panel:not([hidden])").waitFor();
    for (const id of streams) await op1.locator(`#timeline-lanes .lane[data-stream="${id}"] .span`).first().waitFor({ timeout: 10_000 });
    // Every lane and every mark of the window, fetched page after page.
    const shown = await op1
      .locator("#timeline-status")
      .evaluate((el) => ({ lanes: Number((el as HTMLElement).dataset.lanes), marks: Number((el as HTMLElement).dataset.marks) }));
    expect(shown.lanes).toBe(expected.body.lanes.length);
    expect(shown.marks).toBeGreaterThanOrEqual(2100);
    expect(await op1.locator("#timeline-lanes .lane[data-stream]").count()).toBe(shown.lanes);
    expect(await op1.locator("#timeline-lanes .mark").count()).toBe(shown.marks);
    expect(await op1.locator("#timeline-lanes .mark[title='text: busy report 2100']").count()).toBe(1);
    const at = t0 + 3_000;
    // Reproducing a loaded machine on a quiet one: RTER_TEST_CPU_THROTTLE=15 slows the page's CPU 15x (Chromium devtools).
    const throttle = Number(process.env.RTER_TEST_CPU_THROTTLE || 0);
    if (throttle > 1) await (await op1.context().newCDPSession(op1)).send("Emulation.setCPUThrottlingRate", { rate: throttle });
    await op1.locator("#timeline-scrub").evaluate((el, v) => {
      (el as HTMLInputElement).value = String(v);
      el.dispatchEvent(new Event("change"));
    }, at);
    const dates = await untilOk(
      "both streams playing on the timeline",
      async () => {
        const d = (await op1.evaluate(() => (window as any).rterConsole.timelineDates())) as Record<string, number | null>;
        const both = streams.map((id) => d[id]);
        return both.every((x) => typeof x === "number" && x > at - 1_000) ? (both as number[]) : null;
      },
      30_000,
    );
    // Played on, and still together: while both have media (the first recording ends at t0 +
    // SECONDS) every sample where both play is within half a second of the other and of the clock.
    // A player seeking, or stalled at the end of what it has buffered (its picture frozen, its date
    // the next fragment's start, Chromium still saying HAVE_ENOUGH_DATA for a while), does not play
    // the clock: the sync loop holds the clock for it and pauses the other until the next tick puts
    // both on the instant. Such samples are left out of the count (they are in the trace).
    const spreads: number[] = [];
    const offClock: number[] = [];
    const trace: string[] = [];
    for (let k = 0; k < 40 && spreads.length < 8; k++) {
      await Bun.sleep(300);
      const [d, clock, videos] = await op1.evaluate(
        () =>
          [
            (window as any).rterConsole.timelineDates() as Record<string, number | null>,
            (window as any).rterConsole.timelineClock() as number,
            [...document.querySelectorAll<HTMLVideoElement>("#timeline-players .sync-tile")].map((tile) => {
              const v = tile.querySelector("video")!;
              const b = v.buffered;
              let ahead = 0;
              for (let i = 0; i < b.length; i++) if (v.currentTime >= b.start(i) && v.currentTime < b.end(i)) ahead = b.end(i) - v.currentTime;
              return {
                id: (tile as HTMLElement).dataset.stream!,
                playing: !v.paused && !v.seeking && v.readyState >= HTMLMediaElement.HAVE_FUTURE_DATA && ahead >= 0.1,
                text: `${v.currentTime.toFixed(2)}${v.seeking ? " seeking" : ""}${v.paused ? " paused" : ""} rs${v.readyState} ahead ${ahead.toFixed(2)}`,
              };
            }),
          ] as const,
      );
      const [a, b] = streams.map((id) => d[id]);
      const playing = streams.every((id) => videos.find((v) => v.id === id)?.playing);
      trace.push(
        `clock ${Math.round(clock - t0)} a ${typeof a === "number" ? Math.round(a - t0) : a} b ${typeof b === "number" ? Math.round(b - t0) : b} [${streams.map((id) => videos.find((v) => v.id === id)?.text).join(", ")}]${playing ? "" : " (not counted)"}`,
      );
      if (playing && typeof a === "number" && typeof b === "number" && Math.max(a, b) < t0 + SECONDS * 1000 - 500) {
        spreads.push(Math.abs(a - b));
        offClock.push(Math.max(Math.abs(a - clock), Math.abs(b - clock)));
      }
    }
    if (throttle > 1) await (await op1.context().newCDPSession(op1)).send("Emulation.setCPUThrottlingRate", { rate: 1 });
    console.log(
      `[web] timeline: PDT spread of two streams after scrubbing: first ${Math.abs(dates[0]! - dates[1]!)} ms, then max ${Math.max(...spreads)} ms over ${spreads.length} samples of ${trace.length}; max off the clock ${Math.round(Math.max(...offClock))} ms`,
    );
    if (!(Math.max(...spreads, ...offClock) < 500) || process.env.RTER_TEST_TRACE) console.log(`[web] timeline trace (ms after t0):\n${trace.join("\n")}`);
    await op1.screenshot({ path: artifact("incident-room-timeline-playing.png") });
    expect(spreads.length).toBeGreaterThan(4);
    expect(Math.max(...spreads)).toBeLessThan(500);
    expect(Math.max(...offClock)).toBeLessThan(500);
    // Both reporters' positions and cones at that instant on the map.
    const where = (await op1.evaluate(() => (window as any).rterConsole.timelinePositions())) as Record<string, { lat: number; heading: number | null }>;
    expect(where[streams[0]!]?.heading).toBe(90);
    expect(where[streams[1]!]?.heading).toBe(180);
    expect(where[streams[1]!]!.lat).toBeGreaterThan(HERE.lat + 0.0019);
    // …and drawn: a marker and a heading cone per reporter at the clock's instant.
    await untilOk("both cones drawn on the map", async () => (await op1.locator("#map path.cone-replay").count()) === 2, 10_000);
    // Each tile shows decoded pictures, not a black box: frames were presented, the clock of the
    // video moves, and a frame drawn to a canvas has lit pixels (testsrc2 is colourful).
    for (const id of streams) {
      const tile = op1.locator(`#timeline-players .sync-tile[data-stream="${id}"]`);
      const first = await frameOf(tile);
      const later = await untilOk(
        `decoded frames of ${id}`,
        async () => {
          const f = await frameOf(tile);
          return f.frames > 0 && f.lit > 0.2 && f.time > first.time ? f : null;
        },
        15_000,
      );
      console.log(
        `[web] timeline tile ${id}: ${later.frames} frames presented, ${(later.lit * 100).toFixed(0)}% lit pixels, currentTime ${first.time.toFixed(2)} -> ${later.time.toFixed(2)} s`,
      );
      await tile.screenshot({ path: artifact(`incident-room-timeline-tile-${streams.indexOf(id) + 1}.png`) });
    }
    await op1.screenshot({ path: artifact("incident-room-timeline.png") });

    // From an item to "what every camera saw then": a report made while both recorded (fixture
    // row, its time in the past) is found and focused after a reload, and the button scrubs the timeline there.
    const seenAt = t0 + 6_000;
    const db2 = new pg.Client({ connectionString: cluster.env.DATABASE_URL });
    await db2.connect();
    const report = await db2
      .query(
        "insert into items (kind, author_id, title, lat, lng, created_at) select 'text', id, 'Smoke seen from the overpass', $2, $3, $4 from users where email = $1 returning id",
        [users.r2, HERE.lat, HERE.lng, new Date(seenAt)],
      )
      .finally(() => db2.end());
    const reportId = report.rows[0].id as string;
    await op1.reload();
    await op1.locator("#conn[data-state=live]").waitFor({ timeout: 15_000 });
    await op1.getByRole("searchbox", { name: "Search" }).fill("overpass");
    await op1.locator("#search-form").getByRole("button", { name: "Search", exact: true }).click();
    await rowTitle(op1, reportId).click();
    await op1.getByRole("button", { name: "What every camera saw then" }).click();
    await untilOk(
      "both streams at the report's time",
      async () => {
        const d = (await op1.evaluate(() => (window as any).rterConsole.timelineDates())) as Record<string, number | null>;
        return streams.every((id) => typeof d[id] === "number" && Math.abs(d[id]! - seenAt) < 2_000);
      },
      30_000,
    );
    // The cursor and the time shown are that instant too (not the unset clock's 1970).
    const shownAt = Number(await op1.locator("#timeline-at").getAttribute("data-at"));
    expect(Math.abs(shownAt - seenAt)).toBeLessThan(5_000);
    await op1.screenshot({ path: artifact("incident-room-saw-then.png") });
  }, 180_000);
});
