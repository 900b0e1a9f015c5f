import { Elysia, t } from "elysia";
import { BodyInt } from "../http/schema.ts";
import { requireRole } from "../auth/guards.ts";
import { requireUser } from "../auth/auth.http.ts";
import { AppError } from "../errors.ts";
import type { ApiContext } from "../runtime.ts";
import { enqueueProbe, getProbe, MAX_HOLD_MS } from "./queue-probe.service.ts";

const Probe = t.Object({
  id: t.String(),
  enqueued_at: t.String(),
  ran_at: t.Union([t.String(), t.Null()]),
  run_count: t.Number(),
  worker_id: t.Union([t.String(), t.Null()]),
});

/** Admins check the job path end to end: enqueue a probe, see which worker ran it and when. */
export function queueProbeRoutes(rt: ApiContext) {
  const db = () => rt.database.db;
  return new Elysia({ prefix: "/api/v1/admin/queue-probes", name: "queue-probes" })
    .use(requireUser(rt))
    .post(
      "/",
      async ({ user, set, body }) => {
        requireRole(user, "admin");
        set.status = 201;
        return enqueueProbe(db(), body?.hold_ms ?? 0);
      },
      {
        body: t.Optional(t.Object({ hold_ms: t.Optional(BodyInt({ minimum: 0, maximum: MAX_HOLD_MS })) }, { additionalProperties: false })),
        response: { 201: Probe },
        detail: { tags: ["admin"], summary: "Enqueue a queue probe job" },
      },
    )
    .get(
      "/:id",
      async ({ user, params }) => {
        requireRole(user, "admin");
        const p = await getProbe(db(), params.id);
        if (!p) throw new AppError("not_found", "no such probe");
        return p;
      },
      { params: t.Object({ id: t.String({ format: "uuid" }) }), response: { 200: Probe }, detail: { tags: ["admin"], summary: "A queue probe's state" } },
    );
}
