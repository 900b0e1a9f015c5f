import consolePage from "../../web/index.html";
import reportPage from "../../web/report.html";
import serviceWorker from "../../web/sw.js" with { type: "text" };
import manifest from "../../web/manifest.webmanifest" with { type: "text" };
import icon from "../../web/icon.svg" with { type: "text" };

/**
 * The UI pages. Bun bundles each HTML import with its scripts and styles, in development on
 * the fly and in `bun build --compile` into the executable, so no files sit beside the binary.
 * `/join/{token}` is the reporter page, which accepts the invite and moves to `/report`.
 */
export function webRoutes(): Record<string, unknown> {
  const text = (body: string, type: string, extra: Record<string, string> = {}) => new Response(body, { headers: { "content-type": type, "cache-control": "no-cache", ...extra } });
  return {
    "/": consolePage,
    "/report": reportPage,
    "/join/*": reportPage,
    // A service worker's scope is its own path: served from the root it may keep every page.
    "/sw.js": text(serviceWorker, "text/javascript; charset=utf-8", { "service-worker-allowed": "/" }),
    "/manifest.webmanifest": text(manifest, "application/manifest+json"),
    "/icon.svg": text(icon, "image/svg+xml"),
  };
}
