import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Config, LogLevel } from "./config.ts";
import {
  parseAddressList,
  parseByteRate,
  parseCronSchedule,
  parseDuration,
  parseIntInRange,
  parseOriginList,
  parseRatePolicy,
  parseSize,
  redactUrl,
  type RatePolicy,
} from "./parse.ts";
import { SETTINGS, parseJobs, parseRoles, type Setting } from "./settings.ts";
import { parseStorageUrl } from "../storage/open.ts";
import { buildLdapConfig, parseMfaRoles } from "./ldap.ts";
import { buildOidcConfig } from "./oidc.ts";
import { loadTlsFiles } from "./tls.ts";

/** A configuration problem; cmd/ prints `rter: <message>` and exits non-zero. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export type RawValues = Record<string, string | undefined>;

/** Reads a JSON config file whose keys are flag names ({"port": 8080, "roles": "api,web"}). */
export function readConfigFile(path: string): RawValues {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`--config: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`--config: ${path} is not valid JSON: ${(e as Error).message.split("\n")[0]}`);
  }
  if (!data || typeof data !== "object" || Array.isArray(data)) throw new ConfigError(`--config: ${path} must hold a JSON object`);
  const out: RawValues = {};
  for (const [k, v] of Object.entries(data)) {
    if (!SETTINGS.some((s) => s.flag === k)) throw new ConfigError(`--config: unknown setting "${k}" in ${path}`);
    if (Array.isArray(v)) out[k] = v.join(",");
    else if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[k] = String(v);
    else throw new ConfigError(`--${k}: must be a string or number in ${path}`);
  }
  return out;
}

/** Picks each setting's raw value: flags > environment > config file > default. */
export function mergeSources(flags: RawValues, env: RawValues, file: RawValues): Map<Setting, { value: string; from: string } | undefined> {
  const out = new Map<Setting, { value: string; from: string } | undefined>();
  for (const s of SETTINGS) {
    const pick =
      flags[s.flag] !== undefined
        ? { value: flags[s.flag]!, from: "flag" }
        : env[s.env] !== undefined && env[s.env] !== ""
          ? { value: env[s.env]!, from: "env" }
          : file[s.flag] !== undefined
            ? { value: file[s.flag]!, from: "file" }
            : s.default !== undefined
              ? { value: s.default, from: "default" }
              : undefined;
    out.set(s, pick);
  }
  return out;
}

/** Validates every value, applies cross-field rules, and freezes the result. */
export function buildConfig(flags: RawValues, env: RawValues, file: RawValues = {}, cwd = process.cwd()): Config {
  const merged = mergeSources(flags, env, file);
  const get = (flag: string): string | undefined => {
    const s = SETTINGS.find((x) => x.flag === flag)!;
    const v = merged.get(s)?.value;
    if (v !== undefined && s.check) {
      try {
        s.check(v);
      } catch (e) {
        throw new ConfigError(`--${flag}: ${(e as Error).message}`);
      }
    }
    return v;
  };
  const must = (flag: string) => get(flag)!;

  const port = parseIntInRange(must("port"), 1, 65535);
  const dataDir = resolve(cwd, must("data-dir"));
  const publicUrl = (get("public-url") ?? `http://localhost:${port}`).replace(/\/+$/, "");
  let storage;
  const storageUrl = get("storage-url") ?? `file://${dataDir}/objects`;
  try {
    storage = parseStorageUrl(storageUrl, dataDir);
  } catch (e) {
    throw new ConfigError(`--storage-url: ${(e as Error).message}`);
  }
  let tls;
  try {
    tls = loadTlsFiles(get("tls-cert") && resolve(cwd, get("tls-cert")!), get("tls-key") && resolve(cwd, get("tls-key")!));
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  const adminEmail = must("admin-email");
  if (!/^[^\s@]+@[^\s@]+$/.test(adminEmail)) throw new ConfigError(`--admin-email: not an email address: "${adminEmail}"`);

  const heartbeatIntervalMs = parseDuration(must("heartbeat-interval"));
  const deadAfterMs = parseDuration(must("worker-dead-after"));
  // Two missed beats must not make a live worker look dead (its jobs would run twice).
  if (deadAfterMs < 3 * heartbeatIntervalMs) {
    throw new ConfigError(`--worker-dead-after: must be at least 3 x --heartbeat-interval (${heartbeatIntervalMs} ms), got ${deadAfterMs} ms`);
  }

  const sessionIdleMs = parseDuration(must("session-idle"));
  const sessionMaxMs = parseDuration(must("session-max"));
  if (sessionIdleMs > sessionMaxMs) throw new ConfigError(`--session-idle: must not exceed --session-max (${sessionMaxMs} ms), got ${sessionIdleMs} ms`);
  const retention = must("retention");
  let ldap;
  try {
    ldap = buildLdapConfig(get);
  } catch (e) {
    throw e instanceof ConfigError ? e : new ConfigError((e as Error).message.startsWith("--") ? (e as Error).message : `--ldap-url: ${(e as Error).message}`);
  }
  let oidc;
  try {
    oidc = buildOidcConfig(get, publicUrl);
  } catch (e) {
    throw new ConfigError((e as Error).message.startsWith("--") ? (e as Error).message : `--oidc-issuer: ${(e as Error).message}`);
  }
  const databaseUrl = get("database-url") ?? null;
  const databaseOwnerUrl = get("database-owner-url") ?? null;
  if (databaseOwnerUrl && !databaseUrl)
    throw new ConfigError("--database-owner-url: needs --database-url (the runtime role); the embedded Postgres makes both itself");
  if (databaseOwnerUrl && databaseUrl && urlUser(databaseOwnerUrl) === urlUser(databaseUrl)) {
    throw new ConfigError(`--database-owner-url: signs in as ${urlUser(databaseUrl)} like --database-url; the runtime role must be another role`);
  }

  const config: Config = {
    roles: parseRoles(must("roles")),
    http: {
      host: must("host"),
      port,
      publicUrl,
      bodyLimitBytes: parseSize(must("body-limit")),
      headerLimitBytes: parseSize(must("header-limit")),
      tls,
      idleTimeoutSeconds: Math.round(parseDuration(must("idle-timeout")) / 1000),
      upload: { minBytesPerSecond: parseByteRate(must("upload-min-rate")), graceMs: parseDuration(must("upload-grace")) },
    },
    database: {
      url: databaseUrl,
      ownerUrl: databaseOwnerUrl,
      poolMax: parseIntInRange(must("db-pool-max"), 1, 500),
      statementTimeoutMs: parseDuration(must("db-statement-timeout")),
      connectTimeoutMs: parseDuration(must("db-connect-timeout")),
      embeddedPort: parseIntInRange(must("embedded-pg-port"), 1, 65535),
    },
    storage,
    dataDir,
    ffmpeg: get("ffmpeg") ?? null,
    worker: {
      concurrency: parseIntInRange(must("worker-concurrency"), 1, 64),
      shutdownGraceMs: parseDuration(must("shutdown-grace")),
      jobs: parseJobs(must("jobs")),
      heartbeatIntervalMs,
      deadAfterMs,
    },
    fixity: { schedule: parseCronSchedule(must("fixity-schedule")) },
    audit: { headSchedule: parseCronSchedule(must("audit-head-schedule")), headFile: get("audit-head-file") ? resolve(cwd, get("audit-head-file")!) : null },
    ingest: {
      maxChunkBytes: parseSize(must("max-chunk-bytes")),
      gapWaitMs: parseDuration(must("gap-wait")),
      idleFinishMs: must("stream-idle-finish") === "off" ? null : parseDuration(must("stream-idle-finish")),
    },
    media: { ffmpegTimeoutMs: parseDuration(must("ffmpeg-timeout")) },
    web: { mapTileUrl: get("map-tile-url") ?? null, mapPmtiles: get("map-pmtiles") ? resolve(cwd, get("map-pmtiles")!) : null },
    security: {
      sessionSecret: get("session-secret") ?? null,
      sessionIdleMs,
      sessionMaxMs,
      loginMaxFailures: parseIntInRange(must("login-max-failures"), 1, 1000),
      loginLockoutMs: parseDuration(must("login-lockout")),
      rateLimit: parseRatePolicy(must("rate-limit")),
      rateLimitAnonymous: parseRatePolicy(must("rate-limit-anonymous")),
      rateLimitLogin: parseRatePolicy(must("rate-limit-login")),
      rateLimitPlayback: parseRatePolicy(must("rate-limit-playback")),
      rateLimitUser: rateLimitUser(get("rate-limit-user"), parseRatePolicy(must("rate-limit"))),
      quotaItems: must("quota-items") === "off" ? null : parseRatePolicy(must("quota-items")),
      maxEventStreams: parseIntInRange(must("max-event-streams"), 0, 10_000) || null,
      trustedProxies: parseAddressList(get("trusted-proxies") ?? ""),
      corsOrigins: parseOriginList(get("cors-origins") ?? ""),
      ldap,
      oidc,
      mfaRequired: parseMfaRoles(must("mfa-required")),
    },
    retention: { defaultMs: retention === "off" ? null : parseDuration(retention), schedule: parseCronSchedule(must("retention-schedule")) },
    adminEmail,
    logLevel: must("log-level") as LogLevel,
  };
  return deepFreeze(config);
}

/** The role a postgres:// URL signs in as (libpq's default user is the OS user; we only compare). */
function urlUser(url: string): string {
  return decodeURIComponent(new URL(url).username);
}

/** A user's requests across all their tokens; by default twice the per-token limit, so raising one raises both. */
function rateLimitUser(v: string | undefined, perToken: RatePolicy): RatePolicy {
  if (v !== undefined) return parseRatePolicy(v);
  return { limit: Math.min(2 * perToken.limit, 2_000_000), windowSeconds: perToken.windowSeconds };
}

/** Lines for --print-config: every setting, its value (secrets redacted) and where it came from. */
export function describeConfig(flags: RawValues, env: RawValues, file: RawValues): string[] {
  const merged = mergeSources(flags, env, file);
  return SETTINGS.map((s) => {
    const v = merged.get(s);
    const shown = v === undefined ? "(unset)" : s.secret ? (v.value.includes("://") ? redactUrl(v.value) : "***") : v.value;
    return `${s.flag.padEnd(22)} ${shown.padEnd(40)} ${v ? `[${v.from}]` : ""}  # ${s.doc}`;
  });
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object") {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
