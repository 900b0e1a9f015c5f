import consolePage from "../web/index.html";
import reportPage from "../web/report.html";
import adminPage from "../web/admin.html";
import accountPage from "../web/account.html";
import serviceWorker from "../web/sw.js" with { type: "text" };
import manifest from "../web/manifest.webmanifest" with { type: "text" };
import icon from "../web/icon.svg" with { type: "text" };
import { buildPageRoutes, securePageRoutes } from "./pages.ts";

/**
 * The UI pages. `bun build --compile` bundles each HTML import with its scripts and styles into
 * the executable, so no files sit beside the binary; running from source they are built once at
 * start (buildPageRoutes), so pages carry the same security headers (`pageHeaders`, the policy
 * from core/http/security-headers.ts) either way.
 * `/join/{token}` is the reporter page, which accepts the invite and moves to `/report`; `/admin`
 * is the administration page (users, tokens, invites, holds, audit); `/account` the signed-in
 * user's own (change password).
 */
export async function webRoutes(pageHeaders: Record<string, string>): Promise<Record<string, unknown>> {
  const text = (body: string, type: string, extra: Record<string, string> = {}) =>
    new Response(body, { headers: { "content-type": type, "cache-control": "no-cache", ...extra } });
  const built = await buildPageRoutes({
    "/": consolePage,
    "/report": reportPage,
    "/join/*": reportPage,
    "/admin": adminPage,
    "/account": accountPage,
    // A service worker's scope is its own path: served from the root it may keep every page.
    "/sw.js": text(serviceWorker, "text/javascript; charset=utf-8", { "service-worker-allowed": "/" }),
    "/manifest.webmanifest": text(manifest, "application/manifest+json"),
    "/icon.svg": text(icon, "image/svg+xml"),
  });
  return securePageRoutes(built, pageHeaders);
}
