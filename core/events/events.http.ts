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
// The reconnect delay a draining node hands its clients: between MIN and MIN + SPREAD ms.
const DRAIN_RETRY_MIN_MS = 250;
const DRAIN_RETRY_SPREAD_MS = 1_500;

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
          let closed = false;
          const early: RterEvent[] = [];
          const write = (text: string) => {
            if (!closed) ctrl.enqueue(enc.encode(text));
          };
          // Ends the response once, with a last frame; the client may have gone away meanwhile.
          const finish = (lastFrame: string) => {
            if (closed) return;
            cleanup();
            try {
              if (lastFrame) ctrl.enqueue(enc.encode(lastFrame));
              ctrl.close();
            } catch {
              // Already cancelled by the client.
            }
            closed = true;
          };
          const send = (e: RterEvent) => {
            if (BigInt(e.id) <= BigInt(last)) return;
            last = e.id;
            if (visibleTo(user, e)) write(frame(e));
          };
          // Subscribe before catching up, so nothing falls between the two.
          const unsubscribe = hub.subscribe((e) => (live ? send(e) : early.push(e)));
          const beat = setInterval(() => write(": ping\n\n"), HEARTBEAT_MS);
          const end = setTimeout(() => finish(""), MAX_CONNECTION_MS);
          // The credential was checked once, at the start; the watch ends the stream when it stops
          // holding (revoked, disabled, role changed, expired), on whichever node the change was made.
          const unwatch = cred
            ? rt.credentialWatch.watch({
                tokenId: cred.tokenId,
                role: user.role,
                end: (reason) => finish(`event: session.ended\ndata: ${JSON.stringify({ reason })}\n\n`),
              })
            : () => {};
          let undrain = () => {};
          cleanup = () => {
            release();
            unsubscribe();
            unwatch();
            undrain();
            clearInterval(beat);
            clearTimeout(end);
          };
          // A stopping node ends its streams at once (EventHub.drain) rather than holding the drain
          // for up to MAX_CONNECTION_MS: the client reconnects after a delay spread over
          // DRAIN_RETRY_SPREAD_MS (the other nodes do not take every console in the same instant)
          // and resumes from its last event id there.
          undrain = hub.onDrain(() =>
            finish(`: node stopping, reconnect\nretry: ${DRAIN_RETRY_MIN_MS + Math.floor(Math.random() * DRAIN_RETRY_SPREAD_MS)}\n\n`),
          );
          if (closed) return;
          write("retry: 2000\n\n");
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
            if (!closed) ctrl.error(e);
            closed = true;
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
