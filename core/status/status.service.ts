import { integrityIndicators } from "../fixity/fixity.repository.ts";
import type { Database } from "../db/kysely.ts";
import type { NodeContext } from "../runtime.ts";
import type { ObjectStore } from "../storage/store.ts";
import type { PartWaiter } from "../streams/part-waiter.ts";
import { gauge } from "../metrics.ts";
import { withTimeout } from "../util/timeout.ts";
import { quotaIndicators } from "../ratelimit/ratelimit.ts";
import { aliveWorkers, ingestCounts, queueCounts } from "./status.repository.ts";

/** What this node has open, for its status: a web-only node has none of it, a worker no part waiter. */
export interface StatusSources {
  database?: Database;
  store?: ObjectStore;
  parts?: PartWaiter;
}

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

export interface IngestIndicators {
  live_streams: number;
  /** Chunk received → segment listed, over segments made in the last 5 minutes (seconds). */
  lag_p50_seconds: number | null;
  lag_p95_seconds: number | null;
  chunks_waiting: number;
  chunks_failed_last_hour: number;
}

/** Rate limits and lockouts: how much of the quota machinery is in play. */
export interface QuotaIndicators {
  /** 429 answers of this process since it started. */
  rate_limited_total: number;
  /** Rate-limit buckets (tokens, addresses) that counted a request in the last minute, cluster-wide. */
  active_buckets: number;
  /** Accounts locked by failed sign-ins right now. */
  locked_accounts: number;
  /** The per-token default (--rate-limit). */
  token_limit: { requests: number; window_seconds: number };
}

export interface Status {
  node: string;
  version: string;
  roles: readonly string[];
  phase: NodeContext["phase"];
  uptime_seconds: number;
  postgres: { reachable: boolean; latency_ms: number | null; error?: string } | null;
  storage: { reachable: boolean; latency_ms: number | null; kind: string; error?: string } | null;
  queue: QueueIndicators | null;
  integrity: IntegrityIndicators | null;
  ingest: IngestIndicators | null;
  quota: QuotaIndicators | null;
  requests: { total: number; errors_5xx: number; errors_4xx: number; error_rate: number; latency_ms: ReturnType<NodeContext["metrics"]["percentiles"]> };
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
export async function queueIndicators(rt: NodeContext, database: Database | undefined): Promise<QueueIndicators | null> {
  if (!database) return null;
  const r = await queueCounts(database.db);
  const workers = await aliveWorkers(database.db, rt.config.worker.deadAfterMs);
  return {
    depth: Number(r.depth),
    running: Number(r.running),
    failed: Number(r.failed),
    oldest_job_age_seconds: r.oldest === null ? null : Math.round(r.oldest * 10) / 10,
    workers_alive: Object.fromEntries(workers.map((w) => [w.jobs, Number(w.n)])),
  };
}

/** How far behind live the pipeline is: the time from a chunk's arrival to its segment. */
export async function ingestIndicators(database: Database | undefined): Promise<IngestIndicators | null> {
  if (!database) return null;
  const r = await ingestCounts(database.db);
  const round = (x: number | null) => (x === null ? null : Math.round(Number(x) * 1000) / 1000);
  return {
    live_streams: Number(r.live),
    lag_p50_seconds: round(r.p50),
    lag_p95_seconds: round(r.p95),
    chunks_waiting: Number(r.waiting),
    chunks_failed_last_hour: Number(r.failed),
  };
}

/** The evidence check: the last complete fixity run and the failures still open. */
export async function integrity(database: Database | undefined): Promise<IntegrityIndicators | null> {
  if (!database) return null;
  const i = await integrityIndicators(database.db);
  return { last_run_at: i.last_run_at ? new Date(i.last_run_at).toISOString() : null, objects_checked: i.objects_checked, mismatches_open: i.mismatches_open };
}

export async function collectStatus(rt: NodeContext, src: StatusSources): Promise<Status> {
  const db = src.database;
  const store = src.store;
  const [postgres, storage, queue, integrityNow, ingest, quota] = await Promise.all([
    db ? probe(() => db.pool.query("select 1")) : null,
    store ? probe(() => store.ping()).then((p) => ({ ...p, kind: store.kind })) : null,
    queueIndicators(rt, db).catch(() => null),
    integrity(db).catch(() => null),
    ingestIndicators(db).catch(() => null),
    db ? quotaIndicators(db.db).catch(() => null) : null,
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
    ingest,
    quota: quota && {
      rate_limited_total: m.rateLimited,
      ...quota,
      token_limit: { requests: rt.config.security.rateLimit.limit, window_seconds: rt.config.security.rateLimit.windowSeconds },
    },
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
export function prometheusText(rt: NodeContext, src: StatusSources, s: Status): string {
  const lines = [
    ...gauge("rter_up", "1 while the process runs.", 1, `{node="${rt.nodeId}",version="${rt.version}"}`),
    ...gauge("rter_ready", "1 when every dependency of this process answers.", s.phase === "ready" ? 1 : 0),
    ...gauge("rter_uptime_seconds", "Seconds since start.", s.uptime_seconds),
    ...rt.metrics.prometheus(),
  ];
  const parts = src.parts;
  if (parts) {
    lines.push(
      ...gauge(
        "rter_llhls_part_listener_up",
        "1 while this node's LISTEN for committed CMAF parts is connected (else blocked reloads poll every 0.5 s).",
        parts.connected ? 1 : 0,
      ),
      ...gauge("rter_llhls_blocked_requests", "LL-HLS playlist and part requests on this node waiting for a part to commit.", parts.pending),
    );
  }
  if (s.postgres)
    lines.push(
      ...gauge("rter_postgres_up", "Postgres answered a probe.", s.postgres.reachable ? 1 : 0),
      ...gauge("rter_postgres_probe_seconds", "Postgres probe latency.", s.postgres.latency_ms === null ? null : s.postgres.latency_ms / 1000),
    );
  if (s.storage)
    lines.push(
      ...gauge("rter_storage_up", "Object storage answered a probe.", s.storage.reachable ? 1 : 0),
      ...gauge("rter_storage_probe_seconds", "Object storage probe latency.", s.storage.latency_ms === null ? null : s.storage.latency_ms / 1000),
    );
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
      ...gauge(
        "rter_fixity_mismatches_open",
        "Stored objects whose bytes no longer match their SHA-256, or are missing, not yet resolved.",
        s.integrity.mismatches_open,
      ),
      ...gauge(
        "rter_fixity_last_run_timestamp_seconds",
        "When the last complete fixity run finished (unix time).",
        s.integrity.last_run_at ? Date.parse(s.integrity.last_run_at) / 1000 : null,
      ),
      ...gauge("rter_fixity_objects_checked", "Objects re-hashed by the last complete fixity run.", s.integrity.objects_checked),
    );
  }
  if (s.ingest) {
    lines.push(
      ...gauge("rter_streams_live", "Streams currently live.", s.ingest.live_streams),
      ...gauge("rter_ingest_lag_p95_seconds", "Chunk received to segment listed, p95 over the last 5 minutes.", s.ingest.lag_p95_seconds),
      ...gauge("rter_chunks_waiting", "Chunks stored but not yet segmented.", s.ingest.chunks_waiting),
      ...gauge("rter_chunks_failed_last_hour", "Chunks that could not be segmented in the last hour.", s.ingest.chunks_failed_last_hour),
    );
  }
  if (s.quota) {
    lines.push(
      ...gauge("rter_rate_limit_buckets_active", "Rate-limit buckets that counted a request in the last minute.", s.quota.active_buckets),
      ...gauge("rter_accounts_locked", "Accounts locked by failed sign-ins.", s.quota.locked_accounts),
    );
  }
  return lines.join("\n") + "\n";
}
