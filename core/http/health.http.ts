import { Elysia } from "elysia";
import type { NodeContext } from "../runtime.ts";
import { collectStatus, prometheusText, type StatusSources } from "../status/status.service.ts";

export interface Readiness {
  ready: boolean;
  phase: NodeContext["phase"];
  checks: Record<string, { ok: boolean; error?: string }>;
}

/** Runs every started module's check at once; each is bounded by its own timeout. */
export async function readiness(rt: NodeContext): Promise<Readiness> {
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

/**
 * Health for load balancers and monitoring: no auth, no database needed for /healthz. `src` gives
 * what the node has open at the moment (its modules open one after the other at start).
 */
export function healthRoutes(rt: NodeContext, src: () => StatusSources = () => ({})) {
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
        const open = src();
        return prometheusText(rt, open, await collectStatus(rt, open));
      },
      { detail: { tags: ["health"], summary: "Prometheus text format" } },
    )
    .get("/api/v1/status", () => collectStatus(rt, src()), { detail: { tags: ["health"], summary: "Key indicators as JSON" } });
}
