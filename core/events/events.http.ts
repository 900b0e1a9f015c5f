import { Elysia, t } from "elysia";
import { requireUser } from "../auth/auth.http.ts";
import type { AuthUser } from "../auth/auth.service.ts";
import { AppError } from "../errors.ts";
import { currentRequest } from "../request-context.ts";
import type { ApiContext } from "../runtime.ts";
import { eventsAfter, type RterEvent } from "./events.service.ts";

const HEARTBEAT_MS = 15_000;
// Stateless servers: long-lived connections end and clients resume with Last-Event-ID.
const MAX_CONNECTION_MS = 10 * 60_000;
const CATCH_UP_BATCH = 500;

function visibleTo(user: AuthUser, e: RterEvent): boolean {
  return user.role !== "reporter" || e.owner_id === user.id;
}

function frame(e: RterEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify({ stream_id: e.stream_id, ...e.data, at: e.created_at })}\n\n`;
}

/** GET /api/v1/events: server-sent events; a reconnect with Last-Event-ID gets every event it missed. */
export function eventRoutes(rt: ApiContext) {
  const db = () => rt.database.db;
  return new Elysia({ name: "events" }).use(requireUser(rt)).get(
    "/api/v1/events",
    async ({ user, request, query }) => {
      const hub = rt.events;
      const resume = request.headers.get("last-event-id") ?? query.since ?? null;
      const cred = currentRequest()?.actor;
      if (resume !== null && !/^\d{1,18}$/.test(resume)) throw new AppError("bad_request", "Last-Event-ID must be an event id");
      const max = rt.config.security.maxEventStreams;
      // Reporters hold at most --max-event-streams open at once, counted across all API nodes.
      const release = user.role === "reporter" && max !== null ? await rt.eventLeases.acquire(user.id, max) : () => {};
      const enc = new TextEncoder();
      let cleanup = () => {};
      const body = new ReadableStream<Uint8Array>({
        async start(ctrl) {
          let last = resume ?? hub.lastDelivered;
          let live = false;
          const early: RterEvent[] = [];
          const send = (e: RterEvent) => {
            if (BigInt(e.id) <= BigInt(last)) return;
            last = e.id;
            if (visibleTo(user, e)) ctrl.enqueue(enc.encode(frame(e)));
          };
          // Subscribe before catching up, so nothing falls between the two.
          const unsubscribe = hub.subscribe((e) => (live ? send(e) : early.push(e)));
          const beat = setInterval(() => ctrl.enqueue(enc.encode(": ping\n\n")), HEARTBEAT_MS);
          const end = setTimeout(() => {
            cleanup();
            ctrl.close();
          }, MAX_CONNECTION_MS);
          // The credential was checked once, at the start; the watch ends the stream when it stops
          // holding (revoked, disabled, role changed, expired), on whichever node the change was made.
          const unwatch = cred
            ? rt.credentialWatch.watch({
                tokenId: cred.tokenId,
                role: user.role,
                end: (reason) => {
                  cleanup();
                  try {
                    ctrl.enqueue(enc.encode(`event: session.ended\ndata: ${JSON.stringify({ reason })}\n\n`));
                    ctrl.close();
                  } catch {
                    // The client went away meanwhile.
                  }
                },
              })
            : () => {};
          cleanup = () => {
            release();
            unsubscribe();
            unwatch();
            clearInterval(beat);
            clearTimeout(end);
          };
          ctrl.enqueue(enc.encode("retry: 2000\n\n"));
          try {
            if (resume !== null) {
              for (;;) {
                const batch = await eventsAfter(db(), last, CATCH_UP_BATCH);
                batch.forEach(send);
                if (batch.length < CATCH_UP_BATCH) break;
              }
            }
            early.forEach(send);
            live = true;
          } catch (e) {
            cleanup();
            ctrl.error(e);
          }
        },
        cancel() {
          cleanup();
        },
      });
      return new Response(body, {
        headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", connection: "keep-alive", "x-accel-buffering": "no" },
      });
    },
    {
      query: t.Object({ since: t.Optional(t.String({ pattern: "^[0-9]{1,18}$" })) }),
      detail: { tags: ["events"], summary: "Server-sent events for operator screens (resume with Last-Event-ID)" },
    },
  );
}
