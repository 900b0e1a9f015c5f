import { Elysia, t } from "elysia";
import { requireUser } from "../auth/auth.http.ts";
import type { Runtime } from "../runtime.ts";
import { clearGuidance, currentGuidance, setGuidance } from "./guidance.service.ts";

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

/** Guidance for a live reporter: a target point or heading and a message, delivered as an event. */
export function guidanceRoutes(rt: Runtime) {
  const db = () => rt.database!.db;
  return new Elysia({ prefix: "/api/v1/streams", name: "guidance" })
    .use(requireUser(db))
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
    );
}
