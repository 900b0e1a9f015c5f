import { Elysia } from "elysia";
import { openapi } from "@elysiajs/openapi";
import { authRoutes } from "../core/auth/auth.http.ts";
import { oidcRoutes } from "../core/auth/oidc/oidc.http.ts";
import { adminAuthRoutes, inviteRoutes } from "../core/auth/admin.http.ts";
import { passkeyRoutes } from "../core/auth/mfa/webauthn.http.ts";
import { auditRoutes } from "../core/audit/audit.http.ts";
import { retentionRoutes } from "../core/retention/retention.http.ts";
import { AppError } from "../core/errors.ts";
import { queueProbeRoutes } from "../core/queue/queue-probe.http.ts";
import { streamRoutes } from "../core/streams/streams.http.ts";
import { eventRoutes } from "../core/events/events.http.ts";
import { fixityRoutes } from "../core/fixity/fixity.http.ts";
import { jobRoutes } from "../core/queue/jobs.http.ts";
import { itemRoutes } from "../core/items/items.http.ts";
import { exportRoutes } from "../core/evidence/exports.http.ts";
import { timelineRoutes } from "../core/timeline/timeline.http.ts";
import { tagRoutes } from "../core/tags/tags.http.ts";
import { guidanceRoutes } from "../core/guidance/guidance.http.ts";
import { mapArchiveRoutes } from "../core/workspaces/map-archive.http.ts";
import { uiConfigRoutes } from "../core/workspaces/ui-config.http.ts";
import type { NodeContext } from "../core/runtime.ts";
import type { Opened } from "./modules.ts";
import { VERSION } from "../core/version.ts";
import { healthRoutes } from "../core/http/health.http.ts";
import { RAW_BODY_ROUTES } from "../core/http/json-gate.ts";
import { problemResponse, toAppError } from "../core/http/problem.ts";
import { controlCharacterIn } from "../core/http/schema.ts";

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
export function errorHandler(rt: NodeContext) {
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

/**
 * The HTTP app of a node: health always (reporting what `opened` holds at each request); the API
 * once the api role's context is built (`opened` from app/modules.ts). Built again when the
 * modules are up (cmd/serve.ts): until then the edge answers only health, so nothing can reach a
 * route whose resources are not open.
 */
export function buildApp(node: NodeContext, opened: Opened = {}) {
  const rt = node;
  const app = new Elysia({ name: "rter", normalize: false })
    .use(errorHandler(rt))
    // Before parsing (a throw inside a parser is reported as a parse error, 400): JSON APIs answer 415.
    .onRequest(({ request }) => {
      // Before any route: a control character in an id, name or filter is refused by name, not by Postgres.
      if (request.url.includes("%")) {
        const url = new URL(request.url);
        const where = url.pathname.startsWith("/api/") ? controlCharacterIn(url) : null;
        if (where) throw new AppError("bad_request", `${where} contains a control character`);
      }
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
    .use(healthRoutes(rt, () => ({ database: opened.database, store: opened.store, parts: opened.api?.parts })));
  // Routes of roles this process does not run are not mounted: they answer 404, not 503.
  const api = opened.api;
  return api
    ? app
        .use(authRoutes(api))
        .use(oidcRoutes(api))
        .use(passkeyRoutes(api))
        .use(queueProbeRoutes(api))
        .use(streamRoutes(api))
        .use(eventRoutes(api))
        .use(jobRoutes(api))
        .use(fixityRoutes(api))
        .use(itemRoutes(api))
        .use(tagRoutes(api))
        .use(guidanceRoutes(api))
        .use(uiConfigRoutes(api))
        .use(mapArchiveRoutes(api))
        .use(adminAuthRoutes(api))
        .use(inviteRoutes(api))
        .use(auditRoutes(api))
        .use(retentionRoutes(api))
        .use(exportRoutes(api))
        .use(timelineRoutes(api))
    : app;
}
