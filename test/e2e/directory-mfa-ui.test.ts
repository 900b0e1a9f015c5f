import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generate } from "otplib";
import type { Browser } from "playwright-core";
import { launchChromium } from "../support/browser.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { startRter, type RterProcess } from "../support/rter-process.ts";
import { slapdInstalled, startSlapd, type TestSlapd } from "../support/slapd.ts";

// Chromium journey (issue 12): a directory operator signs in to the console through LDAP with a
// TOTP second factor — enrols from the key shown, keeps the recovery codes, and next time only
// enters a code.

if (!slapdInstalled()) throw new Error("slapd is missing: run bash scripts/ensure-tools.sh --ldap");

let slapd: TestSlapd;
let node: RterProcess;
let browser: Browser;

beforeAll(async () => {
  slapd = await startSlapd();
  const ldapArgs = Object.entries(slapd.settings).flatMap(([k, v]) => [`--${k}`, v]);
  node = await startRter({
    env: { DATABASE_URL: await testDatabaseUrl(), RTER_LOG_LEVEL: "warn" },
    args: ["--roles", "api,web", "--mfa-required", "operator", ...ldapArgs],
  });
  await node.waitReady(60_000);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await node?.stop("SIGKILL").catch(() => 0);
  await slapd?.close();
});

async function passwordStep(username: string) {
  const context = await browser.newContext();
  context.on("weberror", (e) => console.error(`[directory-mfa-ui] page error: ${e.error().message}`));
  const page = await context.newPage();
  // /account marks itself ready (body[data-ready]) once signed in; every page shares the sign-in code.
  await page.goto(`${node.url}/account`);
  const login = page.locator("#login");
  await login.getByLabel("Email").fill(username);
  await login.getByLabel("Password").fill(`${username}-pass-1`);
  await login.getByRole("button", { name: "Sign in" }).click();
  return { context, page };
}

describe("directory sign-in with TOTP (Chromium)", () => {
  test("first time: key shown, code entered, recovery codes shown once, the page opens; next time: a code only", async () => {
    const first = await passwordStep("alice");
    const secretEl = first.page.locator("#mfa-secret");
    await secretEl.waitFor({ timeout: 15_000 });
    const secret = (await secretEl.textContent())!.trim();
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
    expect(await first.page.locator("#mfa-uri").getAttribute("href")).toStartWith("otpauth://totp/");
    const mfa = first.page.locator("#mfa");
    await mfa.getByLabel("Authentication code").fill(await generate({ secret }));
    await mfa.getByRole("button", { name: "Verify" }).click();
    const codes = first.page.locator("#mfa-recovery li");
    await codes.first().waitFor({ timeout: 15_000 });
    expect(await codes.count()).toBe(10);
    await mfa.getByRole("button", { name: "Continue" }).click();
    await first.page.locator("body[data-ready='1']").waitFor({ timeout: 15_000 });
    await first.context.close();

    const again = await passwordStep("alice");
    const code = again.page.locator("#mfa").getByLabel("Authentication code");
    await code.waitFor({ timeout: 15_000 });
    expect(await again.page.locator("#mfa-secret").count()).toBe(0);
    await code.fill(await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 }));
    await again.page.locator("#mfa").getByRole("button", { name: "Verify" }).click();
    await again.page.locator("body[data-ready='1']").waitFor({ timeout: 15_000 });
    await again.context.close();
  }, 90_000);
});
