import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { launchChromium } from "../support/browser.ts";
import { hydraBinary, startHydra, type TestHydra } from "../support/hydra.ts";
import { freePort } from "../support/net.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { startRter, type RterProcess } from "../support/rter-process.ts";

// Chromium journey (issue 12): an admin signs in through the city's OpenID Connect provider (Ory
// Hydra with its login form), lands back on the admin page signed in, and signs out — at rter and,
// through RP-initiated logout, at the provider. rter is reached as http://localhost:PORT and the
// provider as http://127.0.0.1:PORT: two sites, as in a real deployment, so the SameSite=Strict
// session cookie has to survive the way back from the provider's site.

if (!hydraBinary()) throw new Error("hydra is missing: run bash scripts/ensure-tools.sh --oidc");

let hydra: TestHydra;
let node: RterProcess;
let browser: Browser;
let site: string;

beforeAll(async () => {
  const port = await freePort();
  site = `http://localhost:${port}`;
  hydra = await startHydra({ redirectUrls: [`${site}/api/v1/auth/oidc/callback`], postLogoutUrls: [`${site}/`] });
  hydra.users.set("adam", { password: "adam-idp-pass", email: "adam@city.test", groups: ["eoc-admins"] });
  const args = Object.entries({ ...hydra.settings(), "oidc-name": "City IdP", "public-url": site }).flatMap(([k, v]) => [`--${k}`, v]);
  node = await startRter({ port, env: { DATABASE_URL: await testDatabaseUrl(), RTER_LOG_LEVEL: "warn" }, args: ["--roles", "api,web", ...args] });
  await node.waitReady(60_000);
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await node?.stop("SIGKILL").catch(() => 0);
  await hydra?.close();
});

describe("OpenID Connect sign-in (Chromium)", () => {
  test("Sign in with the provider from the admin page, come back signed in, sign out at both ends", async () => {
    const context = await browser.newContext();
    context.on("weberror", (e) => console.error(`[oidc-ui] page error: ${e.error().message}`));
    const page = await context.newPage();
    await page.goto(`${site}/admin`);
    const link = page.getByRole("link", { name: "Sign in with City IdP" });
    await link.waitFor({ timeout: 15_000 });
    await link.click();
    // The provider's own login page.
    await page.getByRole("heading", { name: "City identity provider" }).waitFor({ timeout: 15_000 });
    expect(new URL(page.url()).hostname).toBe("127.0.0.1");
    await page.getByLabel("Username").fill("adam");
    await page.getByLabel("Password").fill("adam-idp-pass");
    await page.getByRole("button", { name: "Sign in" }).click();
    // Back on rter's admin page, signed in.
    await page.locator("body[data-ready='1']").waitFor({ timeout: 20_000 });
    expect(page.url()).toBe(`${site}/admin`);
    const me = await page.evaluate(async () => (await fetch("/api/v1/auth/me")).json());
    expect(me).toMatchObject({ email: "adam@city.test", role: "admin" });

    const logouts = hydra.logouts;
    await page.locator("#logout").click();
    await page.waitForURL(`${site}/`, { timeout: 20_000 });
    expect(hydra.logouts).toBe(logouts + 1);
    const after = await page.evaluate(async () => (await fetch("/api/v1/auth/me")).status);
    expect(after).toBe(401);
    await context.close();
  }, 90_000);
});
