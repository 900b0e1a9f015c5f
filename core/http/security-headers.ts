import type { Config } from "../config/config.ts";

/**
 * Response hardening, computed once per process from the config: security headers for API
 * responses and for pages, and the CORS allow-list (--cors-origins, default none).
 */
export interface EdgeHeaders {
  api: Record<string, string>;
  page: Record<string, string>;
  /** GET /api/docs: the generated API reference loads its viewer from a CDN (only with internet access). */
  docs: Record<string, string>;
  corsOrigins: ReadonlySet<string>;
}

/** Origin (host source) of the map tile template, e.g. https://*.tile.example for https://{s}.tile.example/{z}/{x}/{y}.png. */
export function tileSource(template: string | null | undefined): string | null {
  const m = template ? /^(https?:\/\/[^/?#]+)/i.exec(template) : null;
  return m ? m[1]!.replace(/\{[^}]*\}/g, "*").toLowerCase() : null;
}

/**
 * The UI's policy: scripts and styles from this origin only (styles also inline, for map
 * libraries that position tiles with style attributes), media from this origin and blob: (hls.js
 * feeds MediaSource through blob: URLs), images from here, data:, blob: and the map tile origin,
 * never framed by anyone.
 */
export function pageCsp(tileTemplate: string | null | undefined): string {
  const tiles = tileSource(tileTemplate);
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    `img-src 'self' data: blob:${tiles ? ` ${tiles}` : ""}`,
    "media-src 'self' blob:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

export function edgeHeaders(config: Config): EdgeHeaders {
  const common: Record<string, string> = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(self), microphone=(self), geolocation=(self)",
  };
  // Only when users reach us over https: HSTS on plain http would be ignored at best.
  if (config.http.publicUrl.startsWith("https:")) common["strict-transport-security"] = "max-age=31536000";
  return {
    // API answers are data, never documents to run: nothing loads, nothing frames them.
    api: { ...common, "content-security-policy": "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'" },
    page: { ...common, "content-security-policy": pageCsp(config.web?.mapTileUrl) },
    docs: {
      ...common,
      "content-security-policy":
        "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; style-src 'self' 'unsafe-inline' https:; font-src 'self' data: https:; img-src 'self' data: https:; connect-src 'self'; frame-ancestors 'none'",
    },
    corsOrigins: new Set(config.security.corsOrigins),
  };
}

const CORS_ALLOW_HEADERS = "authorization, content-type, idempotency-key, x-chunk-start, last-event-id, x-request-id";
const CORS_EXPOSE_HEADERS = "ratelimit, ratelimit-policy, retry-after, x-request-id, x-rter-performance, x-content-sha256, idempotent-replayed, location";

/** Headers for a cross-origin caller from the allow-list; none for anyone else. No credentials: bearer tokens only. */
export function corsHeaders(edge: EdgeHeaders, origin: string | null): Record<string, string> {
  if (!origin || !edge.corsOrigins.has(origin)) return {};
  return { "access-control-allow-origin": origin, "access-control-expose-headers": CORS_EXPOSE_HEADERS, vary: "Origin" };
}

/** The answer to a CORS preflight; null when the request is not one. */
export function preflight(edge: EdgeHeaders, req: Request): Response | null {
  if (req.method !== "OPTIONS" || !req.headers.get("access-control-request-method")) return null;
  const origin = req.headers.get("origin");
  if (!origin || !edge.corsOrigins.has(origin)) return new Response(null, { status: 204, headers: { vary: "Origin" } });
  return new Response(null, {
    status: 204,
    headers: {
      "access-control-allow-origin": origin,
      "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
      "access-control-allow-headers": CORS_ALLOW_HEADERS,
      "access-control-max-age": "600",
      vary: "Origin",
    },
  });
}
