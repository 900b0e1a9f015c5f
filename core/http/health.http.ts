import { Elysia } from "elysia";
import type { Runtime } from "../runtime.ts";
import { collectStatus, prometheusText } from "../status/status.service.ts";

export interface Readiness {
  ready: boolean;
  phase: Runtime["phase"];
  checks: Record<string, { ok: boolean; error?: string }>;
}

/** Runs every started module's check at once; each is bounded by its own timeout. */
export async function readiness(rt: Runtime): Promise<Readiness> {
  const results = await Promise.all(
    rt.checks.map(async (c) => {
      try {
        await c.check();
        return [c.name, { ok: true }] as const;
      } catch (e) {
        return [c.name, { ok: false, error: (e as Error).message }] as const;
      }
    }),
  );
  const checks = Object.fromEntries(results);
  return { ready: rt.phase === "ready" && results.every(([, r]) => r.ok), phase: rt.phase, checks };
}

/** Health for load balancers and monitoring: no auth, no database needed for /healthz. */
export function healthRoutes(rt: Runtime) {
  return new Elysia({ name: "health" })
    .get("/healthz", () => ({ status: "ok", node: rt.nodeId }), { detail: { tags: ["health"], summary: "200 while the process runs" } })
    .get(
      "/readyz",
      async ({ set }) => {
        const r = await readiness(rt);
        if (!r.ready) {
          set.status = 503;
          set.headers["retry-after"] = "5";
        }
        return r;
      },
      { detail: { tags: ["health"], summary: "200 when every dependency of this process's roles answers, else 503 naming what failed" } },
    )
    .get(
      "/metrics",
      async ({ set }) => {
        set.headers["content-type"] = "text/plain; version=0.0.4; charset=utf-8";
        return prometheusText(rt, await collectStatus(rt));
      },
      { detail: { tags: ["health"], summary: "Prometheus text format" } },
    )
    .get("/api/v1/status", () => collectStatus(rt), { detail: { tags: ["health"], summary: "Key indicators as JSON" } });
}
