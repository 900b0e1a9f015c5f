import type { Server } from "bun";
import { AppError } from "../errors.ts";
import { formatPerf, runWithPerf } from "../perf.ts";
import type { Runtime } from "../runtime.ts";
import { problemResponse } from "./problem.ts";

type Handle = (req: Request) => Promise<Response> | Response;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
// Health answers even while starting or stopping: that is what load balancers need to see.
const ALWAYS_ON = new Set(["/healthz", "/readyz", "/metrics", "/api/v1/status"]);

/**
 * The edge every request passes: request id, body-size check, the not-ready gate, the
 * per-request timing context behind x-rter-performance, metrics and one access-log line.
 */
export function wrapHandler(rt: Runtime, handle: Handle): (req: Request) => Promise<Response> {
  return async (req) => {
    const t0 = performance.now();
    const url = new URL(req.url);
    const path = url.pathname;
    const incoming = req.headers.get("x-request-id");
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    const { ctx, result } = runWithPerf(async (): Promise<Response> => {
      const len = req.headers.get("content-length");
      if (len !== null && (!/^\d+$/.test(len) || Number(len) > rt.config.http.bodyLimitBytes)) {
        return problemResponse(new AppError(/^\d+$/.test(len) ? "too_large" : "bad_request", /^\d+$/.test(len) ? `body exceeds ${rt.config.http.bodyLimitBytes} bytes` : "invalid Content-Length"), path);
      }
      if (rt.phase !== "ready" && !ALWAYS_ON.has(path)) {
        return problemResponse(new AppError("unavailable", rt.phase === "starting" ? "starting up" : "shutting down", { retryAfterSeconds: 2 }), path);
      }
      try {
        return await handle(req);
      } catch (e) {
        rt.log.error("unhandled", { path, err: (e as Error).message });
        return problemResponse(new AppError("internal", "internal error"), path);
      }
    });
    let res = await result;
    // Responses from fetch() or static files can have immutable headers; rebuild only then.
    try {
      res.headers.set("x-request-id", requestId);
    } catch {
      res = new Response(res.body, res);
      res.headers.set("x-request-id", requestId);
    }
    if (path.startsWith("/api/")) res.headers.set("x-rter-performance", formatPerf(ctx));
    const seconds = (performance.now() - t0) / 1000;
    rt.metrics.record(req.method, res.status, seconds);
    const line = { method: req.method, path, status: res.status, ms: Math.round(seconds * 10_000) / 10, requestId };
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

export function startHttpServer(rt: Runtime, handle: Handle, routes: Record<string, unknown> = {}): HttpServer {
  const fetch = wrapHandler(rt, handle);
  const server = Bun.serve({
    hostname: rt.config.http.host,
    port: rt.config.http.port,
    maxRequestBodySize: rt.config.http.bodyLimitBytes,
    // Seconds a connection may sit idle: slow or dead clients do not hold sockets forever.
    idleTimeout: 60,
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
