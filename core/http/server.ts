import type { Server } from "bun";
import { AppError } from "../errors.ts";
import { formatPerf, runWithPerf } from "../perf.ts";
import type { NodeContext } from "../runtime.ts";
import { rateLimitHeaders } from "../ratelimit/ratelimit.ts";
import { clientAddress } from "./client-address.ts";
import { gateJsonBody } from "./json-gate.ts";
import { problemResponse } from "./problem.ts";
import { runWithRequest, type RequestInfo } from "../request-context.ts";
import { corsHeaders, edgeHeaders, preflight } from "./security-headers.ts";

type Handle = (req: Request) => Promise<Response> | Response;
type Fetch = (req: Request, server?: Server<undefined>) => Promise<Response>;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
// Health answers even while starting or stopping: that is what load balancers need to see.
const ALWAYS_ON = new Set(["/healthz", "/readyz", "/metrics", "/api/v1/status"]);

function setHeaders(res: Response, headers: Record<string, string>): void {
  for (const [k, v] of Object.entries(headers)) {
    if (k === "vary") res.headers.append(k, v);
    else res.headers.set(k, v);
  }
}

/**
 * The request with a URL that parses. Bun leaves req.url relative when the request names no
 * host: an HTTP/1.0 request without a Host header (what HAProxy-style health checks send) is
 * served against this server's own origin (--public-url); a Host header that is empty or
 * malformed ("a b", "x:99999") gives null, answered 400.
 */
function usableRequest(req: Request, origin: string): { req: Request; url: URL } | null {
  try {
    return { req, url: new URL(req.url) };
  } catch {
    if (req.headers.has("host") || !req.url.startsWith("/")) return null;
  }
  let url: URL;
  try {
    // Joined, not resolved against the origin: a path like "//other.example/x" must stay a path.
    url = new URL(origin + req.url);
  } catch {
    return null;
  }
  // The rebuilt request keeps method, headers and the (still unread, streaming) body.
  return { req: new Request(url, req), url };
}

function headerBytes(req: Request): number {
  let n = 0;
  req.headers.forEach((v, k) => (n += k.length + v.length + 4));
  return n;
}

/**
 * The edge every request passes: a URL that parses (see usableRequest), request id, client
 * address, header- and body-size checks, CORS preflight, the not-ready gate, the per-request
 * timing context behind x-rter-performance and the request context (who, from where, which
 * rate-limit bucket), then the response headers (security headers, CORS, RateLimit), metrics and
 * one access-log line.
 */
export function wrapHandler(rt: NodeContext, handle: Handle): Fetch {
  const edge = edgeHeaders(rt.config);
  const origin = new URL(rt.config.http.publicUrl).origin;
  return async (req, server) => {
    const t0 = performance.now();
    const usable = usableRequest(req, origin);
    const path = usable ? usable.url.pathname : req.url.startsWith("/") ? req.url.replace(/[?#].*$/s, "") : "/";
    const incoming = req.headers.get("x-request-id");
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    // In-process requests (tests) have no socket: they count as coming from this host.
    const peer = server ? (server.requestIP(req)?.address ?? null) : "127.0.0.1";
    const info: RequestInfo = {
      requestId,
      ip: clientAddress(peer, req.headers.get("x-forwarded-for"), rt.config.security.trustedProxies),
      userAgent: req.headers.get("user-agent") ?? "",
    };
    const { ctx, result } = runWithPerf(() =>
      runWithRequest(info, async (): Promise<Response> => {
        if (!usable) return problemResponse(new AppError("bad_request", "invalid Host header"), path);
        if (headerBytes(req) > rt.config.http.headerLimitBytes) {
          return problemResponse(new AppError("headers_too_large", `request headers exceed ${rt.config.http.headerLimitBytes} bytes`), path);
        }
        const len = req.headers.get("content-length");
        if (len !== null && (!/^\d+$/.test(len) || Number(len) > rt.config.http.bodyLimitBytes)) {
          return problemResponse(
            new AppError(
              /^\d+$/.test(len) ? "too_large" : "bad_request",
              /^\d+$/.test(len) ? `body exceeds ${rt.config.http.bodyLimitBytes} bytes` : "invalid Content-Length",
            ),
            path,
          );
        }
        const pre = preflight(edge, req);
        if (pre) return pre;
        if (rt.phase !== "ready" && !ALWAYS_ON.has(path)) {
          return problemResponse(new AppError("unavailable", rt.phase === "starting" ? "starting up" : "shutting down", { retryAfterSeconds: 2 }), path);
        }
        const gated = await gateJsonBody(usable.req, path, rt.config.http.upload);
        if (gated instanceof AppError) return problemResponse(gated, path);
        try {
          return await handle(gated);
        } catch (e) {
          rt.log.error("unhandled", { path, err: (e as Error).message });
          return problemResponse(new AppError("internal", "internal error"), path);
        }
      }),
    );
    let res = await result;
    const isApi = path.startsWith("/api/");
    const headers: Record<string, string> = {
      ...(path === "/api/docs" ? edge.docs : isApi ? edge.api : edge.page),
      ...corsHeaders(edge, req.headers.get("origin")),
      ...(info.rateLimit ? rateLimitHeaders(info.rateLimit) : {}),
      "x-request-id": requestId,
    };
    if (isApi) headers["x-rter-performance"] = formatPerf(ctx);
    // Responses from fetch() or static files can have immutable headers; rebuild only then.
    try {
      setHeaders(res, headers);
    } catch {
      res = new Response(res.body, res);
      setHeaders(res, headers);
    }
    const seconds = (performance.now() - t0) / 1000;
    rt.metrics.record(req.method, res.status, seconds);
    const line = { method: req.method, path, status: res.status, ms: Math.round(seconds * 10_000) / 10, requestId, ip: info.ip, user: info.actor?.userId };
    if (res.status >= 500) rt.log.warn("request", line);
    else if (!ALWAYS_ON.has(path)) rt.log.info("request", line);
    return res;
  };
}

export interface HttpServer {
  server: Server<undefined>;
  /** Stops accepting connections and waits for in-flight requests. */
  stop(): Promise<void>;
}

export function startHttpServer(rt: NodeContext, handle: Handle, routes: Record<string, unknown> = {}): HttpServer {
  const fetch = wrapHandler(rt, handle);
  const server = Bun.serve({
    hostname: rt.config.http.host,
    port: rt.config.http.port,
    maxRequestBodySize: rt.config.http.bodyLimitBytes,
    // Seconds a connection may sit idle: slow or dead clients do not hold sockets forever, and an
    // upload whose body stops arriving is cut off (its partial object is never recorded).
    idleTimeout: rt.config.http.idleTimeoutSeconds,
    // Inside the network the load balancer connects over TLS and verifies this certificate
    // against the internal CA; the port then refuses plaintext.
    ...(rt.config.http.tls ? { tls: { cert: rt.config.http.tls.cert, key: rt.config.http.tls.key } } : {}),
    // Page routes come hardened (app/web.ts): Bun answers them past the fetch handler.
    routes: routes as never,
    fetch,
    error(e) {
      rt.log.error("server error", { err: e.message });
      return problemResponse(new AppError("internal", "internal error"));
    },
  });
  return {
    server,
    stop: async () => {
      await server.stop(false);
    },
  };
}
