import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { api, signIn, until } from "../support/admin.ts";
import { artifact, launchChromium } from "../support/browser.ts";
import { startCluster, type ProcessCluster } from "../support/cluster-fixture.ts";
import { contentTypeOf, makeChunks } from "../support/media.ts";
import { runCli, type RterProcess } from "../support/rter-process.ts";

// The operator console in Chromium against a real node (Postgres, MinIO, the ffmpeg worker):
// every alert of a burst is reachable from the alert bar (a count, the newest shown whole, the
// rest one click away), and a live stream focused before its first video says it is waiting for
// it, then plays when the first segment comes.

let cluster: ProcessCluster;
let rter: RterProcess;
let browser: Browser;
let op: Page;
const PASSWORD = "correct horse battery staple";
const users = { reporter: "alerts-r1@city.example", op: "alerts-op1@city.example" };
const tokens: Record<string, string> = {};

beforeAll(async () => {
  cluster = await startCluster({ RTER_LOG_LEVEL: "warn", RTER_RATE_LIMIT: "20000/1m" });
  rter = await cluster.ready();
  for (const [email, role] of [
    [users.reporter, "reporter"],
    [users.op, "operator"],
  ] as const) {
    const r = await runCli(["users", "add", "--email", email, "--role", role, "--password", PASSWORD], cluster.env);
    if (r.code !== 0) throw new Error(r.stderr);
    tokens[email] = (await signIn(rter.url, { email, password: PASSWORD })).token;
  }
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  context.on("weberror", (e) => console.error(`[web] page error: ${e.error().message}`));
  op = await context.newPage();
  await op.goto(`${rter.url}/`);
  await op.getByLabel("Email").fill(users.op);
  await op.getByLabel("Password").fill(PASSWORD);
  await op.getByRole("button", { name: "Sign in" }).click();
  await op.locator("#conn[data-state=live]").waitFor({ timeout: 20_000 });
}, 180_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await cluster?.stop();
});

const reporter = () => api(rter.url, tokens[users.reporter]!);
const alertCount = () => op.evaluate(() => ((window as any).rterConsole.alerts() as unknown[]).length);

/** Each listed alert: its text, whether it is displayed, and whether its whole box is inside the list's visible box. */
function alertBoxes() {
  return op.$$eval("#alert-list li", (lis) => {
    const list = document.querySelector("#alert-list")!.getBoundingClientRect();
    return lis.map((li) => {
      const r = li.getBoundingClientRect();
      const shown = getComputedStyle(li).display !== "none" && r.height > 0;
      const whole = shown && r.top >= list.top - 0.5 && r.bottom <= list.bottom + 0.5 && r.bottom <= window.innerHeight;
      const partly = shown && !whole && r.bottom > list.top && r.top < list.bottom;
      return { text: li.querySelector(".alert-text")?.textContent ?? "", shown, whole, partly };
    });
  });
}

describe("the console's alert bar (Chromium)", () => {
  test("a burst of five reports: the bar counts them, shows the newest whole, cuts none, and lists every one on request", async () => {
    const titles = Array.from({ length: 5 }, (_, k) => `water over the road at point ${k + 1}`);
    for (const title of titles) expect((await reporter()("/api/v1/items", { method: "POST", body: { kind: "text", title } })).status).toBe(201);
    await until("five alerts", async () => (await alertCount()) === 5, 20_000);
    await until("the count", async () => (await op.locator("#alert-count").textContent()) === "5 alerts", 5_000);

    // Collapsed: the two newest whole, nothing half shown, and a control that says how many there are.
    let boxes = await alertBoxes();
    expect(boxes.map((b) => b.text)).toEqual(titles.map((t) => `Report from ${users.reporter}: ${t}`).reverse());
    expect(boxes.filter((b) => b.partly)).toEqual([]);
    expect(boxes.filter((b) => b.shown).map((b) => b.whole)).toEqual([true, true]);
    const more = op.locator("#alert-more");
    expect(await more.textContent()).toBe("Show all 5");
    expect(await more.getAttribute("aria-expanded")).toBe("false");
    await op.screenshot({ path: artifact("console-alerts-collapsed.png") });

    // Expanded: every alert is displayed and, scrolled to, whole on screen and clickable.
    await more.click();
    await until("expanded", async () => (await more.getAttribute("aria-expanded")) === "true", 5_000);
    boxes = await alertBoxes();
    expect(boxes.every((b) => b.shown)).toBe(true);
    const items = op.locator("#alert-list li");
    for (let i = 0; i < 5; i++) {
      await items.nth(i).scrollIntoViewIfNeeded();
      expect((await alertBoxes())[i]!.whole).toBe(true);
      await items.nth(i).locator(".alert-text").click({ trial: true, timeout: 5_000 });
    }
    await op.screenshot({ path: artifact("console-alerts-expanded.png") });

    // One dismissed: the count follows; back to collapsed; then all dismissed, the bar goes away.
    await items.nth(4).getByRole("button", { name: "Dismiss alert" }).click();
    await until("four left", async () => (await op.locator("#alert-count").textContent()) === "4 alerts", 5_000);
    await more.click();
    await until("collapsed", async () => (await more.getAttribute("aria-expanded")) === "false", 5_000);
    expect((await alertBoxes()).filter((b) => b.shown).length).toBe(2);
    await op.getByRole("button", { name: "Dismiss all" }).click();
    await until("the bar hidden", async () => await op.locator("#alert-bar").isHidden(), 5_000);
    expect(await alertCount()).toBe(0);
  }, 60_000);
});

describe("a focused live stream before its first video (Chromium)", () => {
  test("says it is waiting for video (no empty player), then plays once the first segment is in", async () => {
    const created = await reporter()("/api/v1/streams", { method: "POST", body: { title: "first light" } });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    const tile = op.locator(`#grid .tile[data-stream="${id}"]`);
    await tile.waitFor({ timeout: 20_000 });
    await tile.click();
    await until("focused", async () => (await op.evaluate(() => (window as any).rterConsole.focus())) === id, 10_000);

    const media = op.locator("#focus .focus-media");
    const notice = op.locator("#focus-notice");
    await until("the waiting notice", async () => (await media.getAttribute("data-state")) === "waiting" && (await notice.isVisible()), 10_000);
    expect(await notice.textContent()).toMatch(/^Waiting for video/);
    // The notice sits over the video, not somewhere below it.
    const [n, v] = await Promise.all([notice.boundingBox(), op.locator("#focus-video").boundingBox()]);
    expect(n!.y + n!.height / 2).toBeGreaterThan(v!.y);
    expect(n!.y + n!.height / 2).toBeLessThan(v!.y + v!.height);
    expect(await op.locator("#focus-video").evaluate((el: HTMLVideoElement) => ({ controls: el.controls, src: el.currentSrc }))).toEqual({
      controls: false,
      src: "",
    });
    await op.screenshot({ path: artifact("console-focus-waiting.png") });

    // The reporter's video starts: ffmpeg-made MPEG-TS chunks of one second, sent as a phone would
    // (one a second, in the background), segmented by the worker.
    const chunks = await makeChunks("ts-h264-aac", 14, 1, "320x240");
    const t0 = Date.now();
    const sent: number[] = [];
    const upload = (async () => {
      for (const [seq, bytes] of chunks.entries()) {
        const r = await fetch(`${rter.url}/api/v1/streams/${id}/chunks/${seq}`, {
          method: "PUT",
          headers: {
            authorization: `Bearer ${tokens[users.reporter]}`,
            "content-type": contentTypeOf("ts-h264-aac"),
            "x-chunk-start": String(t0 + seq * 1000),
          },
          body: bytes,
        });
        sent.push(r.status);
        await Bun.sleep(Math.max(0, t0 + (seq + 1) * 1000 - Date.now()));
      }
    })();
    await until(
      "the focused video playing",
      async () =>
        (await media.getAttribute("data-state")) === "playing" &&
        (await notice.isHidden()) &&
        (await op.locator("#focus-video").evaluate((el: HTMLVideoElement) => el.currentTime > 0 && el.readyState >= 2 && el.controls)),
      60_000,
    );
    const at = await op.locator("#focus-video").evaluate((el: HTMLVideoElement) => el.currentTime);
    await until("the picture moving", async () => (await op.locator("#focus-video").evaluate((el: HTMLVideoElement) => el.currentTime)) > at, 15_000);
    await op.screenshot({ path: artifact("console-focus-playing.png") });
    await upload;
    expect(sent.every((st) => st === 201)).toBe(true);
  }, 120_000);
});
