// rter service worker: the pages open without network (the last copy of each page and asset is
// kept); the API is never cached, so uploads and events always reach the server or fail visibly.
const CACHE = "rter-pages-v1";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (e) => {
  const req = e.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return;
  e.respondWith(
    fetch(req)
      .then((res) => {
        if (res.ok && res.type === "basic") {
          const copy = res.clone();
          caches
            .open(CACHE)
            .then((c) => c.put(req, copy))
            .catch(() => {});
        }
        return res;
      })
      .catch(async () => (await caches.match(req)) ?? (req.mode === "navigate" ? await caches.match("/report") : undefined) ?? Response.error()),
  );
});
