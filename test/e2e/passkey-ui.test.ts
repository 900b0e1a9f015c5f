import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, BrowserContext, CDPSession, Page } from "playwright-core";
import { launchChromium } from "../support/browser.ts";
import { freePort } from "../support/net.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { runCli, startRter, type RterProcess } from "../support/rter-process.ts";

// Chromium journey (issue 12) on the real default (--mfa-required admin, not set here): an admin's
// first sign-in asks for a second factor and they enrol a passkey instead of an app; next time
// the passkey answers; a copy of the authenticator made before that use is refused (its signature
// counter did not move); on /account they add a second passkey and remove the first; the last
// one stays. The authenticators are Chromium's virtual ones (DevTools protocol, WebAuthn domain),
// ctap2 / internal, with resident keys and user verification. The RP ID is localhost.

let node: RterProcess;
let browser: Browser;
let base = "";
let dbEnv: Record<string, string> = {};
const admin = { email: "passkey-admin@city.example", password: "passkey-admin-Pass-2026" };

beforeAll(async () => {
  const port = await freePort();
  base = `http://localhost:${port}`;
  dbEnv = { DATABASE_URL: await testDatabaseUrl() };
  // RTER_MFA_REQUIRED unset: the real default.
  node = await startRter({ port, env: { ...dbEnv, RTER_LOG_LEVEL: "warn", RTER_MFA_REQUIRED: undefined }, args: ["--roles", "api,web", "--public-url", base] });
  await node.waitReady(60_000);
  const add = await runCli(["users", "add", "--email", admin.email, "--role", "admin", "--password", admin.password], dbEnv);
  expect(add.code).toBe(0);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await node?.stop("SIGKILL").catch(() => 0);
});

/** The DevTools protocol's WebAuthn.Credential (the fields this test moves between authenticators). */
interface VirtualCredential {
  credentialId: string;
  isResidentCredential: boolean;
  rpId?: string;
  privateKey: string;
  userHandle?: string;
  signCount: number;
}

/** A page with a virtual authenticator of its own (they are per page target), optionally holding a credential. */
async function pageWithAuthenticator(
  context: BrowserContext,
  credential?: VirtualCredential,
): Promise<{ page: Page; cdp: CDPSession; authenticatorId: string }> {
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[passkey-ui] page error: ${e.message}`));
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  if (credential) await cdp.send("WebAuthn.addCredential", { authenticatorId, credential });
  return { page, cdp, authenticatorId };
}

async function credentials(cdp: CDPSession, authenticatorId: string): Promise<VirtualCredential[]> {
  return (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials as VirtualCredential[];
}

async function passwordStep(page: Page): Promise<void> {
  await page.goto(`${base}/account`);
  const login = page.locator("#login");
  await login.getByLabel("Email").fill(admin.email);
  await login.getByLabel("Password").fill(admin.password);
  await login.getByRole("button", { name: "Sign in" }).click();
}

const passkeyNames = (page: Page) => page.locator("#passkey-list li[data-passkey] .passkey-name").allTextContents();

let enrolled: VirtualCredential;

describe("passkeys in Chromium (virtual authenticator, real default --mfa-required admin)", () => {
  test("first sign-in: the admin must set up a second factor and enrols a passkey; recovery codes shown once", async () => {
    const context = await browser.newContext();
    const { page, cdp, authenticatorId } = await pageWithAuthenticator(context);
    await passwordStep(page);
    const enrol = page.locator("#mfa-passkey-enrol");
    await enrol.waitFor({ timeout: 15_000 });
    // The app route is offered too: the key for an authenticator app.
    expect(await page.locator("#mfa-secret").count()).toBe(1);
    await enrol.click();
    const codes = page.locator("#mfa-recovery li");
    await codes.first().waitFor({ timeout: 15_000 });
    expect(await codes.count()).toBe(10);
    await page.locator("#mfa").getByRole("button", { name: "Continue" }).click();
    await page.locator("body[data-ready='1']").waitFor({ timeout: 15_000 });
    expect(await passkeyNames(page)).toHaveLength(1);
    const held = await credentials(cdp, authenticatorId);
    expect(held).toHaveLength(1);
    expect(held[0]!.rpId).toBe("localhost");
    enrolled = held[0]!;
    // The only second factor of an admin cannot be removed.
    await page.locator("#passkey-list button[data-remove]").click();
    await page.locator("#passkey-result[data-state='error']").waitFor({ timeout: 15_000 });
    expect(await page.locator("#passkey-result").textContent()).toContain("the admin role needs a second factor");
    expect(await passkeyNames(page)).toHaveLength(1);
    await context.close();
  }, 90_000);

  test("next sign-in: the passkey answers the second step; a copy made before that use is refused", async () => {
    const context = await browser.newContext();
    const { page, cdp, authenticatorId } = await pageWithAuthenticator(context, enrolled);
    await passwordStep(page);
    const use = page.locator("#mfa-passkey");
    await use.waitFor({ timeout: 15_000 });
    expect(await page.locator("#mfa-secret").count()).toBe(0);
    await use.click();
    await page.locator("body[data-ready='1']").waitFor({ timeout: 15_000 });
    const after = (await credentials(cdp, authenticatorId))[0]!;
    console.log(`virtual authenticator signCount: ${enrolled.signCount} at enrolment, ${after.signCount} after the sign-in`);
    expect(after.signCount).toBeGreaterThan(enrolled.signCount);
    expect(await page.locator("#passkey-list li[data-passkey]").textContent()).toContain("last used");
    await context.close();

    // The clone: the same key at the counter it had before the sign-in above.
    const clone = await browser.newContext();
    const c = await pageWithAuthenticator(clone, { ...enrolled, signCount: enrolled.signCount });
    await passwordStep(c.page);
    await c.page.locator("#mfa-passkey").click({ timeout: 15_000 });
    await c.page.locator("#login-error").getByText("signature counter did not advance").waitFor({ timeout: 15_000 });
    expect(await c.page.locator("body[data-ready='1']").count()).toBe(0);
    await clone.close();
  }, 90_000);

  test("/account: add a security key as a second passkey, remove the first; the last one stays", async () => {
    const context = await browser.newContext();
    // Sign in with the first passkey (its counter has moved on since the export: the copy starts past it).
    const first = await pageWithAuthenticator(context, { ...enrolled, signCount: enrolled.signCount + 100 });
    await passwordStep(first.page);
    await first.page.locator("#mfa-passkey").click({ timeout: 15_000 });
    await first.page.locator("body[data-ready='1']").waitFor({ timeout: 15_000 });

    // Another page of the same session with another authenticator: the security key.
    const key = await pageWithAuthenticator(context);
    await key.page.goto(`${base}/account`);
    await key.page.locator("body[data-ready='1']").waitFor({ timeout: 15_000 });
    await key.page.locator("#passkey-form").getByLabel("Name").fill("security key");
    await key.page.locator("#passkey-form").getByRole("button", { name: "Add a passkey" }).click();
    await key.page.locator("#passkey-result[data-state='ok']").waitFor({ timeout: 15_000 });
    expect(await key.page.locator("#passkey-result").textContent()).toBe('Passkey "security key" added.');
    expect(await key.page.locator("#passkey-recovery").isHidden()).toBe(true);
    expect((await passkeyNames(key.page)).sort()).toEqual([expect.stringMatching(/^Passkey /), "security key"].sort() as never);
    expect(await credentials(key.cdp, key.authenticatorId)).toHaveLength(1);

    const firstRow = key.page.locator("#passkey-list li[data-passkey]").filter({ hasNotText: "security key" });
    await firstRow.locator("button[data-remove]").click();
    await key.page.locator("#passkey-result[data-state='ok']").getByText("Passkey removed.").waitFor({ timeout: 15_000 });
    await key.page.locator("#passkey-list li[data-passkey]").nth(1).waitFor({ state: "detached", timeout: 15_000 });
    expect(await passkeyNames(key.page)).toEqual(["security key"]);
    await key.page.locator("#passkey-list button[data-remove]").click();
    await key.page.locator("#passkey-result[data-state='error']").waitFor({ timeout: 15_000 });
    expect(await passkeyNames(key.page)).toEqual(["security key"]);
    await context.close();
  }, 90_000);
});
