import { parseCronSchedule, parseDuration, parseIntInRange, parseSize, parseUrl } from "./parse.ts";

/**
 * Every setting the process accepts, in one table: the flag (also the key in a --config file),
 * its environment variable, its default, a parser that validates, and a doc line that doubles as
 * --help and --print-config text. Nothing outside cmd/ and core/config reads process.env.
 */
export interface Setting {
  flag: string;
  env: string;
  doc: string;
  default?: string;
  /** Validates one raw value; throws a one-line Error. Cross-field rules live in load.ts. */
  check?: (v: string) => unknown;
  secret?: boolean;
}

export const ROLES = ["api", "worker", "web"] as const;
export type Role = (typeof ROLES)[number];

export function parseRoles(v: string): Role[] {
  const parts = v.split(",").map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0) throw new Error("needs at least one role (api, worker, web)");
  const out: Role[] = [];
  for (const p of parts.includes("all") ? [...ROLES] : parts) {
    if (!(ROLES as readonly string[]).includes(p)) throw new Error(`unknown role "${p}" (known: api, worker, web, all)`);
    if (!out.includes(p as Role)) out.push(p as Role);
  }
  return out;
}

export const SETTINGS: Setting[] = [
  { flag: "roles", env: "RTER_ROLES", default: "all", doc: "comma list of api, worker, web (or all)", check: parseRoles },
  { flag: "host", env: "RTER_HOST", default: "0.0.0.0", doc: "address the HTTP server binds" },
  { flag: "port", env: "RTER_PORT", default: "8080", doc: "HTTP port", check: (v) => parseIntInRange(v, 1, 65535) },
  { flag: "public-url", env: "RTER_PUBLIC_URL", doc: "URL users reach (behind a load balancer); default http://localhost:PORT", check: (v) => parseUrl(v, ["http:", "https:"]) },
  { flag: "database-url", env: "DATABASE_URL", doc: "Postgres URL; unset = embedded Postgres in the data dir", check: (v) => parseUrl(v, ["postgres:", "postgresql:"]), secret: true },
  { flag: "storage-url", env: "RTER_STORAGE_URL", doc: "s3://ACCESS:SECRET@host:port/bucket?tls=false&region=R&timeout_ms=N&retries=N or file:///path; unset = file:// under the data dir", secret: true },
  { flag: "data-dir", env: "RTER_DATA_DIR", default: ".rter", doc: "where embedded defaults (Postgres, local video) keep their files" },
  { flag: "ffmpeg", env: "RTER_FFMPEG", doc: "path of ffmpeg (else ffmpeg-static's, else ffmpeg on PATH)" },
  { flag: "db-pool-max", env: "RTER_DB_POOL_MAX", default: "10", doc: "Postgres connections per process", check: (v) => parseIntInRange(v, 1, 500) },
  { flag: "db-statement-timeout", env: "RTER_DB_STATEMENT_TIMEOUT", default: "15s", doc: "Postgres statement_timeout for every query", check: parseDuration },
  { flag: "db-connect-timeout", env: "RTER_DB_CONNECT_TIMEOUT", default: "3s", doc: "how long a request waits for a Postgres connection before 503", check: parseDuration },
  { flag: "embedded-pg-port", env: "RTER_EMBEDDED_PG_PORT", default: "54329", doc: "loopback port of the embedded Postgres", check: (v) => parseIntInRange(v, 1, 65535) },
  { flag: "body-limit", env: "RTER_BODY_LIMIT", default: "64MiB", doc: "largest request body accepted", check: parseSize },
  { flag: "worker-concurrency", env: "RTER_WORKER_CONCURRENCY", default: "2", doc: "jobs one worker process runs at once", check: (v) => parseIntInRange(v, 1, 64) },
  { flag: "shutdown-grace", env: "RTER_SHUTDOWN_GRACE", default: "25s", doc: "on SIGTERM, how long running requests and jobs may finish", check: parseDuration },
  { flag: "max-chunk-bytes", env: "RTER_MAX_CHUNK_BYTES", default: "32MiB", doc: "largest video chunk accepted (413 above, nothing stored)", check: parseSize },
  { flag: "gap-wait", env: "RTER_GAP_WAIT", default: "4s", doc: "how long a missing chunk holds the live playlist before it goes on with a discontinuity", check: parseDuration },
  { flag: "ffmpeg-timeout", env: "RTER_FFMPEG_TIMEOUT", default: "60s", doc: "ffmpeg runs longer than this are killed and the job fails with its stderr", check: parseDuration },
  { flag: "admin-email", env: "RTER_ADMIN_EMAIL", default: "admin@rter.local", doc: "email of the admin account created on first start" },
  { flag: "log-level", env: "RTER_LOG_LEVEL", default: "info", doc: "debug, info, warn or error", check: (v) => { if (!["debug", "info", "warn", "error"].includes(v)) throw new Error(`must be debug, info, warn or error, got "${v}"`); } },
  { flag: "jobs", env: "RTER_JOBS", default: "all", doc: "job classes this worker runs: live (segments, posters), batch (recordings, fixity, exports) or all", check: parseJobs },
  { flag: "heartbeat-interval", env: "RTER_HEARTBEAT_INTERVAL", default: "1s", doc: "how often a worker records that it is alive", check: parseDuration },
  { flag: "worker-dead-after", env: "RTER_WORKER_DEAD_AFTER", default: "5s", doc: "a worker silent this long is dead: other workers release its jobs", check: parseDuration },
  { flag: "fixity-schedule", env: "RTER_FIXITY_SCHEDULE", default: "17 * * * *", doc: "cron schedule (UTC) of the fixity check that re-hashes every stored object, or off", check: parseCronSchedule },
];

export const JOBS = ["live", "batch", "all"] as const;
/** Which job classes a worker process runs (see TASK_CLASS in workers/tasks/index.ts). */
export type Jobs = (typeof JOBS)[number];

export function parseJobs(v: string): Jobs {
  if (!(JOBS as readonly string[]).includes(v)) throw new Error(`must be live, batch or all, got "${v}"`);
  return v as Jobs;
}
