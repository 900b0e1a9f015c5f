import { sql } from "kysely";
import { integrityIndicators } from "../fixity/fixity.repository.ts";
import type { Runtime } from "../runtime.ts";
import { gauge } from "../metrics.ts";
import { withTimeout } from "../util/timeout.ts";

export interface QueueIndicators {
  depth: number;
  oldest_job_age_seconds: number | null;
  running: number;
  failed: number;
  /** Workers whose heartbeat is fresh, by the job class they run (live, batch, all). */
  workers_alive: Record<string, number>;
}

export interface IntegrityIndicators {
  /** When the last complete fixity run finished; null before the first. */
  last_run_at: string | null;
  objects_checked: number;
  /** Damaged or missing objects not yet resolved. */
  mismatches_open: number;
}

export interface Status {
  node: string;
  version: string;
  roles: readonly string[];
  phase: Runtime["phase"];
  uptime_seconds: number;
  postgres: { reachable: boolean; latency_ms: number | null; error?: string } | null;
  storage: { reachable: boolean; latency_ms: number | null; kind: string; error?: string } | null;
  queue: QueueIndicators | null;
  integrity: IntegrityIndicators | null;
  requests: { total: number; errors_5xx: number; errors_4xx: number; error_rate: number; latency_ms: ReturnType<Runtime["metrics"]["percentiles"]> };
}

async function probe(fn: () => Promise<unknown>): Promise<{ reachable: boolean; latency_ms: number | null; error?: string }> {
  const t0 = performance.now();
  try {
    await withTimeout(fn(), 2_000, "no answer");
    return { reachable: true, latency_ms: Math.round((performance.now() - t0) * 100) / 100 };
  } catch (e) {
    return { reachable: false, latency_ms: null, error: (e as Error).message };
  }
}

/** Jobs waiting to run now, running, and permanently failed (the trouble queue), from graphile-worker's public view. */
export async function queueIndicators(rt: Runtime): Promise<QueueIndicators | null> {
  if (!rt.database) return null;
  const { rows } = await sql<{ depth: string; running: string; failed: string; oldest: number | null }>`
    select count(*) filter (where locked_at is null and attempts < max_attempts and run_at <= now()) as depth,
           count(*) filter (where locked_at is not null) as running,
           count(*) filter (where attempts >= max_attempts and locked_at is null) as failed,
           extract(epoch from now() - min(run_at) filter (where locked_at is null and attempts < max_attempts and run_at <= now()))::float8 as oldest
    from graphile_worker.jobs`.execute(rt.database.db);
  const r = rows[0]!;
  const workers = await sql<{ jobs: string; n: string }>`
    select jobs, count(*) as n from worker_heartbeats
    where last_seen > now() - make_interval(secs => ${rt.config.worker.deadAfterMs / 1000}::float8) group by jobs`.execute(rt.database.db);
  return {
    depth: Number(r.depth),
    running: Number(r.running),
    failed: Number(r.failed),
    oldest_job_age_seconds: r.oldest === null ? null : Math.round(r.oldest * 10) / 10,
    workers_alive: Object.fromEntries(workers.rows.map((w) => [w.jobs, Number(w.n)])),
  };
}

/** The evidence check: the last complete fixity run and the failures still open. */
export async function integrity(rt: Runtime): Promise<IntegrityIndicators | null> {
  if (!rt.database) return null;
  const i = await integrityIndicators(rt.database.db);
  return { last_run_at: i.last_run_at ? new Date(i.last_run_at).toISOString() : null, objects_checked: i.objects_checked, mismatches_open: i.mismatches_open };
}

export async function collectStatus(rt: Runtime): Promise<Status> {
  const db = rt.database;
  const store = rt.store;
  const [postgres, storage, queue, integrityNow] = await Promise.all([
    db ? probe(() => db.pool.query("select 1")) : null,
    store ? probe(() => store.ping()).then((p) => ({ ...p, kind: store.kind })) : null,
    queueIndicators(rt).catch(() => null),
    integrity(rt).catch(() => null),
  ]);
  const m = rt.metrics;
  return {
    node: rt.nodeId,
    version: rt.version,
    roles: rt.config.roles,
    phase: rt.phase,
    uptime_seconds: Math.round((Date.now() - m.startedAt) / 1000),
    postgres,
    storage,
    queue,
    integrity: integrityNow,
    requests: {
      total: m.total,
      errors_5xx: m.errors5xx,
      errors_4xx: m.errors4xx,
      error_rate: m.total ? Math.round((m.errors5xx / m.total) * 10_000) / 10_000 : 0,
      latency_ms: m.percentiles(),
    },
  };
}

/** Prometheus exposition: request counters plus the status indicators as gauges. */
export function prometheusText(rt: Runtime, s: Status): string {
  const lines = [
    ...gauge("rter_up", "1 while the process runs.", 1, `{node="${rt.nodeId}",version="${rt.version}"}`),
    ...gauge("rter_ready", "1 when every dependency of this process answers.", s.phase === "ready" ? 1 : 0),
    ...gauge("rter_uptime_seconds", "Seconds since start.", s.uptime_seconds),
    ...rt.metrics.prometheus(),
  ];
  if (s.postgres) lines.push(...gauge("rter_postgres_up", "Postgres answered a probe.", s.postgres.reachable ? 1 : 0), ...gauge("rter_postgres_probe_seconds", "Postgres probe latency.", s.postgres.latency_ms === null ? null : s.postgres.latency_ms / 1000));
  if (s.storage) lines.push(...gauge("rter_storage_up", "Object storage answered a probe.", s.storage.reachable ? 1 : 0), ...gauge("rter_storage_probe_seconds", "Object storage probe latency.", s.storage.latency_ms === null ? null : s.storage.latency_ms / 1000));
  if (s.queue) {
    lines.push(
      ...gauge("rter_queue_depth", "Jobs waiting to run now.", s.queue.depth),
      ...gauge("rter_queue_running", "Jobs locked by a worker.", s.queue.running),
      ...gauge("rter_queue_failed", "Jobs that exhausted their attempts (trouble queue).", s.queue.failed),
      ...gauge("rter_queue_oldest_job_age_seconds", "Age of the oldest job waiting to run.", s.queue.oldest_job_age_seconds ?? 0),
      ...Object.entries(s.queue.workers_alive).flatMap(([jobs, n], i) => {
        const g = gauge("rter_queue_workers_alive", "Workers with a fresh heartbeat, by job class.", n, `{jobs="${jobs}"}`);
        return i === 0 ? g : g.slice(2);
      }),
    );
  }
  if (s.integrity) {
    lines.push(
      ...gauge("rter_fixity_mismatches_open", "Stored objects whose bytes no longer match their SHA-256, or are missing, not yet resolved.", s.integrity.mismatches_open),
      ...gauge("rter_fixity_last_run_timestamp_seconds", "When the last complete fixity run finished (unix time).", s.integrity.last_run_at ? Date.parse(s.integrity.last_run_at) / 1000 : null),
      ...gauge("rter_fixity_objects_checked", "Objects re-hashed by the last complete fixity run.", s.integrity.objects_checked),
    );
  }
  return lines.join("\n") + "\n";
}
