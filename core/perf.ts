import { AsyncLocalStorage } from "node:async_hooks";

/**
 * Per-request timing context. The HTTP layer opens one per request; the db and storage layers add
 * to it, so every /api/ response can say where its time went (x-rter-performance).
 */
export type TimingKind = "db" | "storage" | "queue";
export interface PerfContext {
  start: number;
  timings: Record<TimingKind, number>;
}

const als = new AsyncLocalStorage<PerfContext>();

export function runWithPerf<T>(fn: () => T): { ctx: PerfContext; result: T } {
  const ctx: PerfContext = { start: performance.now(), timings: { db: 0, storage: 0, queue: 0 } };
  return { ctx, result: als.run(ctx, fn) };
}

/** No-op outside a request (workers, CLI). */
export function addTiming(kind: TimingKind, ms: number): void {
  const c = als.getStore();
  if (c) c.timings[kind] += ms;
}

export function currentPerf(): PerfContext | undefined {
  return als.getStore();
}

/** Times an async call into the current context. */
export async function timed<T>(kind: TimingKind, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    addTiming(kind, performance.now() - t0);
  }
}

export function formatPerf(ctx: PerfContext): string {
  const total = performance.now() - ctx.start;
  const parts = [`total=${total.toFixed(1)}ms`];
  for (const k of ["db", "storage", "queue"] as const) {
    if (ctx.timings[k] > 0) parts.push(`${k}=${ctx.timings[k].toFixed(1)}ms`);
  }
  return parts.join(";");
}
