import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { until } from "../support/admin.ts";
import { artifact, launchChromium } from "../support/browser.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { runCli, startRter, type RterProcess } from "../support/rter-process.ts";

// The administration page in Debian's Chromium against a real rter (from source: pages built at
// start, Postgres, disk storage): an admin manages tokens, users, invites, holds and the audit
// trail by clicking, and each click is checked against the API it should have changed.

let node: RterProcess;
let env: Record<string, string>;
let browser: Browser;
let page: Page;
const PASSWORD = "correct horse battery";
const admin = "chief@city.example";
const operator = "dispatch@city.example";
const reporter = "field@city.example";

async function cli(args: string[]): Promise<string> {
  const r = await runCli(args, env);
  if (r.code !== 0) throw new Error(`rter ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

async function signInAs(p: Page, email: string): Promise<void> {
  const login = p.locator("#login");
  await login.getByLabel("Email").fill(email);
  await login.getByLabel("Password").fill(PASSWORD);
  await login.getByRole("button", { name: "Sign in" }).click();
}

async function apiAs(token: string, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${node.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(init.headers ?? {}) } });
}

beforeAll(async () => {
  env = { DATABASE_URL: await testDatabaseUrl(), RTER_LOG_LEVEL: "warn" };
  node = await startRter({ env, args: ["--roles", "api,web"] });
  await node.waitReady(60_000);
  for (const [email, role] of [
    [admin, "admin"],
    [operator, "operator"],
    [reporter, "reporter"],
  ] as const)
    await cli(["users", "add", "--email", email, "--role", role, "--password", PASSWORD]);
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  context.on("weberror", (e) => console.error(`[admin] page error: ${e.error().message}`));
  page = await context.newPage();
  await page.goto(`${node.url}/admin`);
  await signInAs(page, admin);
  await page.locator("body[data-ready='1']").waitFor({ timeout: 15_000 });
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await node?.stop("SIGKILL").catch(() => 0);
});

describe("administration page (Chromium)", () => {
  test("an API token is created with a smaller role, shown once, works, and stops working when revoked", async () => {
    const form = page.locator("#token-form");
    await form.getByLabel("User email").fill(operator);
    await form.getByLabel("Name").fill("wall display");
    await form.getByLabel("Role").selectOption("viewer");
    await form.getByRole("button", { name: "Create token" }).click();
    const secret = await until("token shown", async () => (await page.locator("#new-token-value").textContent())?.trim(), 5_000);
    expect(secret).toMatch(/^rter_/);
    await page.locator('#token-rows tr[data-token="wall display"]').waitFor();

    const me = await apiAs(secret, "/api/v1/auth/me");
    expect(me.status).toBe(200);
    // Scoped below its user: a viewer token cannot create a tag although its user could.
    expect((await apiAs(secret, "/api/v1/tags", { method: "POST", body: JSON.stringify({ name: "nope" }) })).status).toBe(403);

    const revoke = page.getByRole("button", { name: "Revoke token wall display" });
    await revoke.click();
    await revoke.click(); // the second click confirms
    await until("token revoked", async () => (await apiAs(secret, "/api/v1/auth/me")).status === 401, 5_000);
    await page.locator("#flash", { hasText: "revoked" }).waitFor();
  });

  test("users: add one (password shown once), change a role, unlock a locked account, disable and enable", async () => {
    const form = page.locator("#user-form");
    await form.getByLabel("Email", { exact: true }).fill("new.viewer@city.example");
    await form.getByLabel("Role").selectOption("viewer");
    await form.getByRole("button", { name: "Add user" }).click();
    await page.locator("#flash", { hasText: "Password (shown once)" }).waitFor();
    const password = /Password \(shown once\): (\S+)/.exec((await page.locator("#flash").textContent()) ?? "")?.[1] ?? "";
    const login = await fetch(`${node.url}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "new.viewer@city.example", password }),
    });
    expect(login.status).toBe(200);

    // Five wrong passwords lock the reporter; the page shows it and lifts it.
    for (let i = 0; i < 5; i++)
      await fetch(`${node.url}/api/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": "198.51.100.9" },
        body: JSON.stringify({ email: reporter, password: `wrong ${i}` }),
      });
    await page.reload();
    await page.locator("body[data-ready='1']").waitFor();
    const row = page.locator(`#user-rows tr[data-email="${reporter}"]`);
    await expect(row.textContent()).resolves.toContain("locked until");
    await page.getByRole("button", { name: `Unlock ${reporter}` }).click();
    await until("unlocked", async () => !((await row.textContent()) ?? "").includes("locked"), 5_000);
    const ok = await fetch(`${node.url}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: reporter, password: PASSWORD }),
    });
    expect(ok.status).toBe(200);

    // Role change: the reporter becomes a viewer.
    await page.getByLabel(`Role of ${reporter}`).selectOption("viewer");
    await page.locator("#flash", { hasText: "is now viewer" }).waitFor();
    const users = (await (await apiAs(await adminToken(), "/api/v1/admin/users")).json()) as { email: string; role: string }[];
    expect(users.find((u) => u.email === reporter)?.role).toBe("viewer");

    const disable = page.getByRole("button", { name: `Disable ${reporter}` });
    await disable.click();
    await disable.click();
    await until("disabled", async () => ((await row.textContent()) ?? "").includes("disabled"), 5_000);
    const refused = await fetch(`${node.url}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: reporter, password: PASSWORD }),
    });
    expect(refused.status).toBe(401);
    const enable = page.getByRole("button", { name: `Enable ${reporter}` });
    await enable.click();
    await enable.click();
    await until("enabled", async () => ((await row.textContent()) ?? "").includes("active"), 5_000);
  }, 60_000);

  test("invites: a link is made once, listed, and revoked so it no longer works", async () => {
    const form = page.locator("#invite-form");
    await form.getByLabel("Role").selectOption("viewer");
    await form.getByLabel("Note").fill("for the mayor's office");
    await form.getByRole("button", { name: "Create invite link" }).click();
    const url = await until("invite link shown", async () => (await page.locator("#new-invite-url").textContent())?.trim(), 5_000);
    expect(url).toContain("/join/");
    const revoke = page.getByRole("button", { name: "Revoke invite for the mayor's office" });
    await revoke.click();
    await revoke.click();
    await until("invite revoked", async () => ((await page.locator("#invite-rows").textContent()) ?? "").includes("revoked"), 5_000);
    const token = url.split("/join/")[1]!;
    const use = await fetch(`${node.url}/api/v1/invites/accept`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token }),
    });
    expect(use.status).toBe(410);
  });

  test("legal holds in force are listed and released; the audit trail shows it all, verifies, and renders hostile text inertly", async () => {
    const tok = await adminToken();
    const hostile = `<img src=x onerror="window.__pwned=1">'; drop table audit_log; --`;
    const item = (await (await apiAs(tok, "/api/v1/items", { method: "POST", body: JSON.stringify({ kind: "text", title: hostile }) })).json()) as {
      id: string;
    };
    expect((await apiAs(tok, `/api/v1/items/${item.id}/hold`, { method: "POST", body: JSON.stringify({ reason: hostile }) })).status).toBe(201);
    await page.reload();
    await page.locator("body[data-ready='1']").waitFor();
    const release = page.getByRole("button", { name: `Release hold: ${hostile}` });
    await release.click();
    await release.click();
    await page.locator("#hold-rows", { hasText: "No legal holds in force." }).waitFor({ timeout: 5_000 });
    const holds = (await (await apiAs(tok, "/api/v1/admin/holds")).json()) as unknown[];
    expect(holds).toEqual([]);

    const audit = page.locator("#audit-form");
    await audit.getByLabel(/^Action/).fill("hold.");
    await audit.getByRole("button", { name: "Show" }).click();
    await until("hold entries shown", async () => (await page.locator('#audit-rows tr[data-action="hold.released"]').count()) === 1, 5_000);
    expect(await page.locator('#audit-rows tr[data-action="hold.placed"]').count()).toBe(1);
    expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator("#audit-rows img").count()).toBe(0);
    expect(await page.locator("#export-csv").getAttribute("href")).toBe("/api/v1/admin/audit/export?format=csv&action=hold.");

    await page.getByRole("button", { name: "Verify the chain" }).click();
    await page.locator("#verify-result", { hasText: "Intact" }).waitFor({ timeout: 5_000 });
    await page.screenshot({ path: artifact("web-admin.png"), fullPage: true });
  });

  test("the evidence section shows the appliance's signing key as the API gives it, and the packages", async () => {
    const key = (await (await apiAs(await adminToken(), "/api/v1/admin/signing-key")).json()) as { fingerprint: string; public_key_pem: string };
    expect(await page.locator("#signing-fingerprint").textContent()).toBe(key.fingerprint);
    expect(await page.locator("#signing-pem").textContent()).toBe(key.public_key_pem);
    await page.locator("#export-rows", { hasText: "No evidence packages yet." }).waitFor({ timeout: 5_000 });
  });

  test("an operator signing in on the page is told it is for administrators, and sees no data", async () => {
    const other = await browser.newContext();
    const p = await other.newPage();
    await p.goto(`${node.url}/admin`);
    await signInAs(p, operator);
    await p.locator("#not-admin").waitFor({ timeout: 5_000 });
    expect(await p.locator("#app").isHidden()).toBe(true);
    await other.close();
  });
});

let cachedAdminToken = "";
async function adminToken(): Promise<string> {
  if (!cachedAdminToken) cachedAdminToken = (await cli(["tokens", "create", "--email", admin])).trim().split("\n").at(-1)!;
  return cachedAdminToken;
}
