import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { ROOT } from "./rter-process.ts";

/** Debian's Chromium, headless, driven by playwright-core (never a downloaded browser). */
export const CHROMIUM = "/usr/bin/chromium";

export async function launchChromium(opts: { fakeCamera?: boolean } = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--autoplay-policy=no-user-gesture-required",
      ...(opts.fakeCamera ? ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"] : []),
    ],
  });
}

/** artifacts/<name>: screenshots a person looks at (gitignored). */
export function artifact(name: string): string {
  const dir = join(ROOT, "artifacts");
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}

/** Opens `url` and fills in its sign-in form as a person would (it does not wait for what follows). */
export async function signInOnPage(page: Page, url: string, email: string, password: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}
