import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { apiCall, signIn, untilOk } from "../support/admin.ts";
import { artifact, launchChromium, signInOnPage } from "../support/browser.ts";
import { startCluster, type ProcessCluster } from "../support/cluster-fixture.ts";
import type { RterProcess } from "../support/rter-process.ts";

// Alerts in the operator console, against the compiled binary with Postgres and MinIO: a
// reporter's text report, a new live stream and a keyword rule's hit each show in the alert list
// (text, never markup), sound a beep and, with the permission granted, a system notification;
// muted, the list still fills but nothing sounds.

let cluster: ProcessCluster;
let rter: RterProcess;
let browser: Browser;
let context: BrowserContext;
let op: Page;
const PASSWORD = "correct horse battery";
const users = { reporter: "r1@city.example", op: "op1@city.example", admin: "admin@city.example" };
const tokens: Record<string, string> = {};
const dialogs: string[] = [];

beforeAll(async () => {
  cluster = await startCluster({ RTER_LOG_LEVEL: "warn" }, { binary: true });
  rter = await cluster.ready();
  await cluster.addUsers(PASSWORD, [
    [users.reporter, "reporter"],
    [users.op, "operator"],
    [users.admin, "admin"],
  ]);
  for (const email of Object.values(users)) tokens[email] = (await signIn(rter.url, { email, password: PASSWORD })).token;
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  await context.grantPermissions(["notifications"], { origin: rter.url });
  context.on("weberror", (e) => console.error(`[web] page error: ${e.error().message}`));
  op = await context.newPage();
  op.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await signInOnPage(op, `${rter.url}/`, users.op, PASSWORD);
  await op.locator("#conn[data-state=live]").waitFor({ timeout: 15_000 });
}, 180_000);

afterAll(async () => {
  await context?.close().catch(() => {});
  await browser?.close().catch(() => {});
  await cluster?.stop();
});

const call = (email: string, method: string, path: string, body?: unknown) => apiCall(rter.url, tokens[email], method, path, body);

const alertTexts = () => op.$$eval("#alert-list li .alert-text", (els) => els.map((e) => e.textContent ?? ""));
const counts = () => op.evaluate(() => (window as any).rterConsole.alertCounts() as { beeps: number; notifications: number });
/** Past the console's quiet spell after a sound, so the next alert may sound again. */
const quiet = () => Bun.sleep(2_000);

describe("alerts in the operator console (Chromium, compiled binary)", () => {
  const HOSTILE = `<img src=x onerror="alert('xss')"><script>alert(2)</script> & "flood" <b>now</b>`;

  test("a reporter's text report alerts with its words shown literally, a beep and a system notification", async () => {
    const before = await counts();
    const r = await call(users.reporter, "POST", "/api/v1/items", { kind: "text", title: HOSTILE, body: "water rising" });
    expect(r.status).toBe(201);
    const want = `Report from ${users.reporter}: ${HOSTILE}`;
    await untilOk("the report's alert", async () => (await alertTexts()).includes(want), 15_000);
    expect(await op.locator("#alert-list img, #alert-list script, #alert-list b").count()).toBe(0);
    expect(dialogs).toEqual([]);
    await untilOk(
      "a beep and a system notification",
      async () => {
        const after = await counts();
        return after.beeps === before.beeps + 1 && after.notifications === before.notifications + 1;
      },
      5_000,
    );
    await op.screenshot({ path: artifact("notifications-report.png") });
  });

  test("a new live stream alerts; clicking the alert focuses it", async () => {
    await quiet();
    const before = await counts();
    const s = await call(users.reporter, "POST", "/api/v1/streams", { title: "bridge <i>east</i>", tags: ["flood"] });
    expect(s.status).toBeLessThan(300);
    const want = `Live stream by ${users.reporter}: bridge <i>east</i>`;
    await untilOk("the stream's alert", async () => (await alertTexts())[0] === want, 15_000);
    expect(await op.locator("#alert-list i").count()).toBe(0);
    await untilOk("a beep", async () => (await counts()).beeps === before.beeps + 1, 5_000);
    await op.locator("#alert-list li .alert-text", { hasText: "Live stream by" }).click();
    await untilOk("the stream in focus", async () => (await op.evaluate(() => (window as any).rterConsole.focus?.() ?? null)) === s.body.id, 10_000);
  });

  test("a keyword rule's hit alerts with its workspace; muted, alerts still list but nothing sounds; dismiss removes one", async () => {
    const rule = await call(users.admin, "POST", "/api/v1/tags/flood/rules", { kind: "keyword", keyword: "basement" });
    expect(rule.status).toBeLessThan(300);
    await quiet();
    const before = await counts();
    expect((await call(users.reporter, "POST", "/api/v1/items", { kind: "text", title: "Basement flooding on 3rd", body: "" })).status).toBe(201);
    await untilOk("the rule's alert", async () => (await alertTexts()).some((t) => t.startsWith("Rule of flood matched")), 15_000);
    await untilOk("the report's own alert", async () => (await alertTexts()).includes(`Report from ${users.reporter}: Basement flooding on 3rd`), 15_000);
    await untilOk("a beep", async () => (await counts()).beeps > before.beeps, 5_000);

    await op.getByRole("button", { name: "Sound on" }).click();
    await op.locator("#alert-mute[aria-pressed=true]").waitFor({ timeout: 5_000 });
    await quiet();
    const muted = await counts();
    expect((await call(users.reporter, "POST", "/api/v1/items", { kind: "text", title: "quiet one", body: "" })).status).toBe(201);
    await untilOk("the muted alert in the list", async () => (await alertTexts())[0] === `Report from ${users.reporter}: quiet one`, 15_000);
    // The item's fetch comes after the sound would have; once it is listed, no sound can follow.
    await untilOk("the muted report loaded", async () => (await op.locator("#item-list li .item-title", { hasText: "quiet one" }).count()) > 0, 10_000);
    expect(await counts()).toEqual(muted);
    await op.screenshot({ path: artifact("notifications-rule-muted.png") });

    const n = (await alertTexts()).length;
    await op.locator("#alert-list li").first().getByRole("button", { name: "Dismiss alert" }).click();
    await untilOk("one alert fewer", async () => (await alertTexts()).length === n - 1, 5_000);
    expect(await alertTexts()).not.toContain(`Report from ${users.reporter}: quiet one`);
  });
});
