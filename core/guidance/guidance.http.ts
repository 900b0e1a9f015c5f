import { Elysia, t } from "elysia";
import { requireUser } from "../auth/auth.http.ts";
import type { ApiContext } from "../runtime.ts";
import { clearGuidance, currentGuidance, setGuidance } from "./guidance.service.ts";
import { currentLock, releaseLock, takeLock } from "./lock.service.ts";

const tags = ["guidance"];
const Params = t.Object({ id: t.String({ format: "uuid" }) });
const Guidance = t.Object({
  id: t.String(),
  stream_id: t.String(),
  lat: t.Union([t.Number(), t.Null()]),
  lng: t.Union([t.Number(), t.Null()]),
  heading: t.Union([t.Number(), t.Null()]),
  message: t.String(),
  by: t.Union([t.String(), t.Null()]),
  created_at: t.String(),
});
const Lock = t.Object({
  stream_id: t.String(),
  holder: t.Union([t.Object({ id: t.String(), email: t.String() }), t.Null()]),
  taken_at: t.Union([t.String(), t.Null()]),
});

/** Guidance for a live reporter: a target point or heading and a message, delivered as an event. */
export function guidanceRoutes(rt: ApiContext) {
  const db = () => rt.database.db;
  return new Elysia({ prefix: "/api/v1/streams", name: "guidance" })
    .use(requireUser(rt))
    .get("/:id/guidance", ({ user, params }) => currentGuidance(db(), user, params.id), {
      params: Params,
      response: { 200: t.Union([Guidance, t.Null()]) },
      detail: { tags, summary: "The stream's current guidance, or null" },
    })
    .put("/:id/guidance", ({ user, params, body }) => setGuidance(db(), user, params.id, body), {
      params: Params,
      body: t.Object(
        {
          lat: t.Optional(t.Number({ minimum: -90, maximum: 90 })),
          lng: t.Optional(t.Number({ minimum: -180, maximum: 180 })),
          heading: t.Optional(t.Number({ minimum: 0, maximum: 360 })),
          message: t.Optional(t.String({ maxLength: 280 })),
        },
        { additionalProperties: false },
      ),
      response: { 200: Guidance },
      detail: { tags, summary: "Operator: set the reporter's target point or heading and message (replaces the previous one)" },
    })
    .delete(
      "/:id/guidance",
      async ({ user, params, set }) => {
        await clearGuidance(db(), user, params.id);
        set.status = 204;
      },
      { params: Params, detail: { tags, summary: "Operator: clear the guidance" } },
    )
    .get("/:id/guidance/lock", ({ user, params }) => currentLock(db(), user, params.id), {
      params: Params,
      response: { 200: Lock },
      detail: { tags, summary: "Operator: who holds the direction lock (guides this reporter); holder null when free" },
    })
    .put("/:id/guidance/lock", ({ user, params, body }) => takeLock(db(), user, params.id, { takeover: body?.takeover }), {
      params: Params,
      body: t.Optional(t.Object({ takeover: t.Optional(t.Boolean()) }, { additionalProperties: false })),
      response: { 200: Lock },
      detail: {
        tags,
        summary:
          "Operator: take the direction lock. Free or already yours: yours. Held by another operator: 409 naming them, unless takeover is true (audited as guidance.lock_taken_over, announced as guidance.locked). Guidance from anyone but the holder is 409; the first guidance on a free lock takes it.",
      },
    })
    .delete(
      "/:id/guidance/lock",
      async ({ user, params, set }) => {
        await releaseLock(db(), user, params.id);
        set.status = 204;
      },
      { params: Params, detail: { tags, summary: "Operator: let go of the direction lock you hold" } },
    );
}
