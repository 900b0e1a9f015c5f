import { Elysia } from "elysia";
import { openapi } from "@elysiajs/openapi";
import { authRoutes } from "../auth/auth.http.ts";
import { adminAuthRoutes, inviteRoutes } from "../auth/admin.http.ts";
import { auditRoutes } from "../audit/audit.http.ts";
import { retentionRoutes } from "../retention/retention.http.ts";
import { AppError } from "../errors.ts";
import { queueProbeRoutes } from "../queue/queue-probe.http.ts";
import { streamRoutes } from "../streams/streams.http.ts";
import { eventRoutes } from "../events/events.http.ts";
import { fixityRoutes } from "../fixity/fixity.http.ts";
import { jobRoutes } from "../queue/jobs.http.ts";
import { itemRoutes } from "../items/items.http.ts";
import { exportRoutes } from "../evidence/exports.http.ts";
import { timelineRoutes } from "../timeline/timeline.http.ts";
import { tagRoutes } from "../tags/tags.http.ts";
import { guidanceRoutes } from "../guidance/guidance.http.ts";
import { mapArchiveRoutes } from "../workspaces/map-archive.http.ts";
import { uiConfigRoutes } from "../workspaces/ui-config.http.ts";
import type { Runtime } from "../runtime.ts";
import { VERSION } from "../version.ts";
import { healthRoutes } from "./health.http.ts";
import { RAW_BODY_ROUTES } from "./json-gate.ts";
import { problemResponse, toAppError } from "./problem.ts";

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

function validationDetail(error: unknown): { message: string; errors: { path: string; message: string }[] } {
  const all = ((error as { all?: { path?: string; message?: string; summary?: string }[] }).all ?? []).slice(0, 10);
  // Bounded whatever the input: a path or message is cut, never copied whole into the answer.
  const errors = all.map((e) => ({ path: clip(e.path || "/", 200), message: clip(e.summary ?? e.message ?? "invalid", 300) }));
  const first = errors[0];
  return { message: first ? `${first.path}: ${first.message}` : "request does not match the schema", errors };
}

/** Maps every error to problem+json in one place; the cause is logged, never sent. */
export function errorHandler(rt: Runtime) {
  return new Elysia({ name: "errors" }).onError({ as: "global" }, ({ code, error, request }) => {
    const path = new URL(request.url).pathname;
    let err: AppError;
    if (code === "VALIDATION") {
      const d = validationDetail(error);
      err = new AppError("bad_request", d.message, { detail: { errors: d.errors } });
    } else if (code === "PARSE") err = new AppError("bad_request", "request body could not be parsed");
    else if (code === "NOT_FOUND") err = new AppError("not_found", `no route for ${request.method} ${path}`);
    else err = toAppError(error);
    if (err.status >= 500) rt.log.error("request failed", { path, code: err.code, err: String((err.cause as Error)?.stack ?? err.cause ?? err.message) });
    return problemResponse(err, path);
  });
}

export function buildApp(rt: Runtime) {
  const app = new Elysia({ name: "rter", normalize: false })
    .use(errorHandler(rt))
    // Before parsing (a throw inside a parser is reported as a parse error, 400): JSON APIs answer 415.
    .onRequest(({ request }) => {
      const contentType = request.headers.get("content-type");
      if (!contentType || request.method === "GET" || request.method === "HEAD") return;
      const path = new URL(request.url).pathname;
      if (!path.startsWith("/api/") || RAW_BODY_ROUTES.some((r) => r.test(path))) return;
      if (!/^application\/(problem\+)?json\s*(;|$)/i.test(contentType)) {
        throw new AppError("unsupported_media_type", `expected application/json, got ${contentType.split(";")[0]}`);
      }
    })
    .use(
      openapi({
        path: "/api/docs",
        specPath: "/api/openapi.json",
        documentation: {
          info: { title: "rter API", version: VERSION, description: "Real-time emergency response: ingest, events, items, administration." },
          components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
          security: [{ bearer: [] }],
        },
      }),
    )
    .use(healthRoutes(rt));
  // Routes of roles this process does not run are not mounted: they answer 404, not 503.
  return rt.has("api") ? app.use(authRoutes(rt)).use(queueProbeRoutes(rt)).use(streamRoutes(rt)).use(eventRoutes(rt)).use(jobRoutes(rt)).use(fixityRoutes(rt)).use(itemRoutes(rt)).use(tagRoutes(rt)).use(guidanceRoutes(rt)).use(uiConfigRoutes(rt)).use(mapArchiveRoutes(rt)).use(adminAuthRoutes(rt)).use(inviteRoutes(rt)).use(auditRoutes(rt)).use(retentionRoutes(rt)).use(exportRoutes(rt)).use(timelineRoutes(rt)) : app;
}
