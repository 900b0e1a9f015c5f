import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { until } from "../support/admin.ts";
import { launchChromium } from "../support/browser.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { runCli, startRter, type RterProcess } from "../support/rter-process.ts";

// Password changes in Debian's Chromium against a real rter: a user changes their own password on
// /account (the rules answered by the server, shown on the page), which signs out their other
// browser; an admin sets a new password for a user from /admin.
let node: RterProcess;
let env: Record<string, string>;
let browser: Browser;
const PASSWORD = "correct horse battery";
const admin = "chief@pw-ui.example";
const operator = "desk@pw-ui.example";

async function cli(args: string[]): Promise<void> {
  const r = await runCli(args, env);
  if (r.code !== 0) throw new Error(`rter ${args.join(" ")}: ${r.stderr}`);
}

async function signedIn(path: string, email: string, password = PASSWORD): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  context.on("weberror", (e) => console.error(`[password-ui] page error: ${e.error().message}`));
  const page = await context.newPage();
  await page.goto(`${node.url}${path}`);
  const login = page.locator("#login");
  await login.getByLabel("Email").fill(email);
  await login.getByLabel("Password").fill(password);
  await login.getByRole("button", { name: "Sign in" }).click();
  await page.locator("body[data-ready='1']").waitFor({ timeout: 15_000 });
  return { context, page };
}

const login = (email: string, password: string) =>
  fetch(`${node.url}/api/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email, password }) }).then(
    (r) => r.status,
  );

beforeAll(async () => {
  env = { DATABASE_URL: await testDatabaseUrl(), RTER_LOG_LEVEL: "warn" };
  node = await startRter({ env, args: ["--roles", "api,web"] });
  await node.waitReady(60_000);
  await cli(["users", "add", "--email", admin, "--role", "admin", "--password", PASSWORD]);
  await cli(["users", "add", "--email", operator, "--role", "operator", "--password", PASSWORD]);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await node?.stop("SIGKILL").catch(() => 0);
});

describe("password pages (Chromium)", () => {
  test("/account: refused passwords are explained, a good one is taken and signs out the other browser", async () => {
    const other = await signedIn("/account", operator);
    const { page } = await signedIn("/account", operator);
    const form = page.locator("#password-form");
    const result = page.locator("#password-result");
    const attempt = async (current: string, next: string, repeat = next) => {
      await form.getByLabel("Current password").fill(current);
      await form.getByLabel("New password", { exact: true }).fill(next);
      await form.getByLabel("Repeat new password").fill(repeat);
      await form.getByRole("button", { name: "Change password" }).click();
    };
    await attempt(PASSWORD, "baseball1234!", "baseball1234!");
    await until("common refused", async () => /common/.test((await result.textContent()) ?? ""), 10_000);
    await attempt(PASSWORD, "a good long passphrase", "a good long passphrase typo");
    await until("mismatch noticed", async () => /differ/.test((await result.textContent()) ?? ""), 10_000);
    await attempt("not my password at all", "a good long passphrase");
    await until("wrong current refused", async () => /current password is wrong/.test((await result.textContent()) ?? ""), 10_000);
    await attempt(PASSWORD, "a good long passphrase");
    await until("changed", async () => /Password changed\. 1 other session/.test((await result.textContent()) ?? ""), 10_000);
    expect(await login(operator, "a good long passphrase")).toBe(200);
    expect(await login(operator, PASSWORD)).toBe(401);
    // The other browser's session has ended: its next call is refused.
    expect(await other.page.evaluate(() => fetch("/api/v1/auth/me").then((r) => r.status))).toBe(401);
    await other.context.close();
  });

  test("/admin: Set password (two clicks) shows a new password once, which then works", async () => {
    const { page } = await signedIn("/admin", admin);
    const row = page.locator(`#user-rows tr[data-email="${operator}"]`);
    const button = row.getByRole("button", { name: `Set a new password for ${operator}` });
    await button.click();
    await button.click();
    const text = await until(
      "password shown",
      async () => {
        const t = (await page.locator("#flash").textContent()) ?? "";
        return t.includes("shown once") ? t : null;
      },
      10_000,
    );
    const pw = /\(shown once\): (\S+)/.exec(text)![1]!;
    expect(await login(operator, pw)).toBe(200);
  });
});
