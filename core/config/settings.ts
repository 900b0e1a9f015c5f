import { closeSync, openSync, readSync } from "node:fs";
import { parseBool, parseLdapCache, parseMfaRoles, parseNestedDepth, parseNestedMaxGroups, parseNestedMode, parseRoleMap, parseUserFilter } from "./ldap.ts";
import { parseClaimRoleMap, parseGroupOverage, parseOidcRecheck, parseRoleClaim, parseScopes } from "./oidc.ts";
import {
  parseAddressList,
  parseByteRate,
  parseCronSchedule,
  parseDuration,
  parseIntInRange,
  parseOriginList,
  parseRatePolicy,
  parseSize,
  parseUrl,
} from "./parse.ts";

/**
 * Every setting the process accepts, in one table: the flag (also the key in a --config file),
 * its environment variable, its default, a parser that validates, and a doc line that doubles as
 * --help and --print-config text. Nothing outside cmd/ and core/config reads process.env.
 */
export interface Setting {
  flag: string;
  env: string;
  doc: string;
  /** The roles whose behaviour it changes; shown in docs/configuration.md (bun scripts/config-doc.ts). */
  roles: readonly Role[];
  default?: string;
  /** Validates one raw value; throws a one-line Error. Cross-field rules live in load.ts. */
  check?: (v: string) => unknown;
  secret?: boolean;
}

export const ROLES = ["api", "worker", "web"] as const;
export type Role = (typeof ROLES)[number];

export function parseRoles(v: string): Role[] {
  const parts = v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new Error("needs at least one role (api, worker, web)");
  const out: Role[] = [];
  for (const p of parts.includes("all") ? [...ROLES] : parts) {
    if (!(ROLES as readonly string[]).includes(p)) throw new Error(`unknown role "${p}" (known: api, worker, web, all)`);
    if (!out.includes(p as Role)) out.push(p as Role);
  }
  return out;
}

export const SETTINGS: Setting[] = [
  { flag: "roles", env: "RTER_ROLES", roles: ROLES, default: "all", doc: "comma list of api, worker, web (or all)", check: parseRoles },
  { flag: "host", env: "RTER_HOST", roles: ROLES, default: "0.0.0.0", doc: "address the HTTP server binds" },
  { flag: "port", env: "RTER_PORT", roles: ROLES, default: "8080", doc: "HTTP port", check: (v) => parseIntInRange(v, 1, 65535) },
  {
    flag: "public-url",
    env: "RTER_PUBLIC_URL",
    roles: ROLES,
    doc: "URL users reach (behind a load balancer); default http://localhost:PORT",
    check: (v) => parseUrl(v, ["http:", "https:"]),
  },
  {
    flag: "tls-cert",
    env: "RTER_TLS_CERT",
    roles: ROLES,
    doc: "PEM certificate (chain) file: the HTTP port then speaks only HTTPS (for the load balancer's verified connection inside the network); needs --tls-key; read at start",
  },
  { flag: "tls-key", env: "RTER_TLS_KEY", roles: ROLES, doc: "PEM private key file of --tls-cert (unencrypted; keep it readable by rter only)" },
  {
    flag: "database-url",
    env: "DATABASE_URL",
    roles: ["api", "worker"],
    doc: "Postgres URL; unset = embedded Postgres in the data dir",
    check: (v) => parseUrl(v, ["postgres:", "postgresql:"]),
    secret: true,
  },
  {
    flag: "database-owner-url",
    env: "DATABASE_OWNER_URL",
    roles: ["api", "worker"],
    doc: "Postgres URL of the role that owns the tables and runs migrations; --database-url is then the runtime role (DML only), whose rights it sets; unset with --database-url = one role does both",
    check: (v) => parseUrl(v, ["postgres:", "postgresql:"]),
    secret: true,
  },
  {
    flag: "storage-url",
    env: "RTER_STORAGE_URL",
    roles: ["api", "worker"],
    doc: "s3://ACCESS:SECRET@host:port/bucket?tls=false&ca=/path/ca.pem&region=R&timeout_ms=N&retries=N&object_lock=true (TLS by default; ca = PEM CA file the server certificate is checked against instead of the public CAs) or file:///path; unset = file:// under the data dir",
    secret: true,
  },
  {
    flag: "data-dir",
    env: "RTER_DATA_DIR",
    roles: ["api", "worker"],
    default: ".rter",
    doc: "where embedded defaults (Postgres, local video) keep their files",
  },
  { flag: "ffmpeg", env: "RTER_FFMPEG", roles: ["worker"], doc: "path of ffmpeg (else ffmpeg-static's, else ffmpeg on PATH)" },
  {
    flag: "db-pool-max",
    env: "RTER_DB_POOL_MAX",
    roles: ["api", "worker"],
    default: "10",
    doc: "Postgres connections per process",
    check: (v) => parseIntInRange(v, 1, 500),
  },
  {
    flag: "db-statement-timeout",
    env: "RTER_DB_STATEMENT_TIMEOUT",
    roles: ["api", "worker"],
    default: "15s",
    doc: "Postgres statement_timeout for every query",
    check: parseDuration,
  },
  {
    flag: "db-connect-timeout",
    env: "RTER_DB_CONNECT_TIMEOUT",
    roles: ["api", "worker"],
    default: "3s",
    doc: "how long a request waits for a Postgres connection before 503",
    check: parseDuration,
  },
  {
    flag: "embedded-pg-port",
    env: "RTER_EMBEDDED_PG_PORT",
    roles: ["api", "worker"],
    default: "54329",
    doc: "loopback port of the embedded Postgres",
    check: (v) => parseIntInRange(v, 1, 65535),
  },
  { flag: "body-limit", env: "RTER_BODY_LIMIT", roles: ["api"], default: "64MiB", doc: "largest request body accepted", check: parseSize },
  {
    flag: "worker-concurrency",
    env: "RTER_WORKER_CONCURRENCY",
    roles: ["worker"],
    default: "2",
    doc: "jobs one worker process runs at once",
    check: (v) => parseIntInRange(v, 1, 64),
  },
  {
    flag: "shutdown-grace",
    env: "RTER_SHUTDOWN_GRACE",
    roles: ROLES,
    default: "25s",
    doc: "on SIGTERM, how long running requests and jobs may finish",
    check: parseDuration,
  },
  {
    flag: "max-chunk-bytes",
    env: "RTER_MAX_CHUNK_BYTES",
    roles: ["api"],
    default: "32MiB",
    doc: "largest video chunk accepted (413 above, nothing stored)",
    check: parseSize,
  },
  {
    flag: "stream-idle-finish",
    env: "RTER_STREAM_IDLE_FINISH",
    roles: ["worker"],
    default: "30m",
    doc: "a live stream with no chunk for this long is finished by the worker (and goes live again if its reporter's late chunks arrive), or off",
    check: (v) => {
      if (v === "off") return;
      const ms = parseDuration(v);
      if (ms < 60_000 || ms > 7 * 86_400_000) throw new Error("must be between 1m and 7d, or off");
    },
  },
  {
    flag: "gap-wait",
    env: "RTER_GAP_WAIT",
    roles: ["worker"],
    default: "4s",
    doc: "how long a missing chunk holds the live playlist before it goes on with a discontinuity",
    check: parseDuration,
  },
  {
    flag: "ffmpeg-timeout",
    env: "RTER_FFMPEG_TIMEOUT",
    roles: ["worker"],
    default: "60s",
    doc: "ffmpeg runs longer than this are killed and the job fails with its stderr",
    check: parseDuration,
  },
  { flag: "admin-email", env: "RTER_ADMIN_EMAIL", roles: ["api"], default: "admin@rter.local", doc: "email of the admin account created on first start" },
  {
    flag: "log-level",
    env: "RTER_LOG_LEVEL",
    roles: ROLES,
    default: "info",
    doc: "debug, info, warn or error",
    check: (v) => {
      if (!["debug", "info", "warn", "error"].includes(v)) throw new Error(`must be debug, info, warn or error, got "${v}"`);
    },
  },
  {
    flag: "jobs",
    env: "RTER_JOBS",
    roles: ["worker"],
    default: "all",
    doc: "job classes this worker runs: live (segments, posters), batch (recordings, fixity, exports) or all",
    check: parseJobs,
  },
  {
    flag: "heartbeat-interval",
    env: "RTER_HEARTBEAT_INTERVAL",
    roles: ["worker"],
    default: "1s",
    doc: "how often a worker records that it is alive",
    check: parseDuration,
  },
  {
    flag: "worker-dead-after",
    env: "RTER_WORKER_DEAD_AFTER",
    roles: ["worker", "api"],
    default: "5s",
    doc: "a worker silent this long is dead: other workers release its jobs",
    check: parseDuration,
  },
  {
    flag: "fixity-schedule",
    env: "RTER_FIXITY_SCHEDULE",
    roles: ["worker"],
    default: "17 * * * *",
    doc: "cron schedule (UTC) of the fixity check that re-hashes every stored object, or off",
    check: parseCronSchedule,
  },
  {
    flag: "map-tile-url",
    env: "RTER_MAP_TILE_URL",
    roles: ["api", "web"],
    doc: "map tiles for the operator console, e.g. https://tiles.example/{z}/{x}/{y}.png; unset = a blank grid (the server network is often offline)",
    check: parseTileUrl,
  },
  {
    flag: "map-pmtiles",
    env: "RTER_MAP_PMTILES",
    roles: ["api"],
    doc: "a PMTiles v3 archive (the city's extract, see docs/offline-map.md) the appliance serves itself as the console's base map, for networks without a tile server; overrides --map-tile-url",
    check: checkPmtiles,
  },
  {
    flag: "session-secret",
    env: "RTER_SESSION_SECRET",
    roles: ["api"],
    doc: "key that signs session tokens (at least 32 characters, the same on every API node); unset = a random key kept in Postgres",
    check: (v) => {
      if (v.length < 32) throw new Error("must be at least 32 characters");
    },
    secret: true,
  },
  {
    flag: "session-idle",
    env: "RTER_SESSION_IDLE",
    roles: ["api"],
    default: "30m",
    doc: "a signed-in session unused this long ends (API tokens do not idle out)",
    check: parseDuration,
  },
  {
    flag: "session-max",
    env: "RTER_SESSION_MAX",
    roles: ["api"],
    default: "12h",
    doc: "a session ends this long after sign-in however active it is",
    check: parseDuration,
  },
  {
    flag: "login-max-failures",
    env: "RTER_LOGIN_MAX_FAILURES",
    roles: ["api"],
    default: "5",
    doc: "failed sign-ins in a row that lock an account",
    check: (v) => parseIntInRange(v, 1, 1000),
  },
  {
    flag: "login-lockout",
    env: "RTER_LOGIN_LOCKOUT",
    roles: ["api"],
    default: "10m",
    doc: "how long a locked account stays locked (an admin can unlock it sooner)",
    check: parseDuration,
  },
  {
    flag: "rate-limit",
    env: "RTER_RATE_LIMIT",
    roles: ["api"],
    default: "3000/1m",
    doc: "requests per token and window, shared by all API nodes (a token may carry its own)",
    check: parseRatePolicy,
  },
  {
    flag: "rate-limit-anonymous",
    env: "RTER_RATE_LIMIT_ANONYMOUS",
    roles: ["api"],
    default: "120/1m",
    doc: "requests per client address without valid credentials",
    check: parseRatePolicy,
  },
  {
    flag: "rate-limit-login",
    env: "RTER_RATE_LIMIT_LOGIN",
    roles: ["api"],
    default: "20/1m",
    doc: "sign-in and invite attempts per client address",
    check: parseRatePolicy,
  },
  {
    flag: "rate-limit-playback",
    env: "RTER_RATE_LIMIT_PLAYBACK",
    roles: ["api"],
    default: "60000/1m",
    doc: "HLS playback reads (playlists, init, parts, segments) per user and window, counted apart from the other limits: a low-latency CMAF tile reads ~8 times a second",
    check: parseRatePolicy,
  },
  {
    flag: "rate-limit-user",
    env: "RTER_RATE_LIMIT_USER",
    roles: ["api"],
    doc: "requests per user and window across all their tokens and sessions; unset = twice --rate-limit",
    check: parseRatePolicy,
  },
  {
    flag: "quota-items",
    env: "RTER_QUOTA_ITEMS",
    roles: ["api"],
    default: "600/1h",
    doc: "items (streams, reports, photos, links) a reporter may create per window, across all their tokens, or off",
    check: (v) => (v === "off" ? null : parseRatePolicy(v)),
  },
  {
    flag: "max-event-streams",
    env: "RTER_MAX_EVENT_STREAMS",
    roles: ["api"],
    default: "5",
    doc: "event streams (GET /api/v1/events) a reporter may hold open at once, across all API nodes; 0 = no limit",
    check: (v) => parseIntInRange(v, 0, 10_000),
  },
  {
    flag: "trusted-proxies",
    env: "RTER_TRUSTED_PROXIES",
    roles: ["api"],
    doc: "load balancers whose X-Forwarded-For is believed (IPs or IPv4 CIDR, comma list); unset = none",
    check: parseAddressList,
  },
  {
    flag: "cors-origins",
    env: "RTER_CORS_ORIGINS",
    roles: ["api"],
    doc: "other web origins allowed to call the API with bearer tokens (comma list); unset = none",
    check: parseOriginList,
  },
  {
    flag: "header-limit",
    env: "RTER_HEADER_LIMIT",
    roles: ROLES,
    default: "16KiB",
    doc: "largest request header block (431 above; Bun itself refuses more than 16KiB)",
    check: (v) => {
      if (parseSize(v) < 1024 || parseSize(v) > 16384) throw new Error("must be between 1KiB and 16KiB");
    },
  },
  {
    flag: "idle-timeout",
    env: "RTER_IDLE_TIMEOUT",
    roles: ROLES,
    default: "60s",
    doc: "a connection silent this long is closed (a stalled upload stores nothing)",
    check: (v) => {
      const ms = parseDuration(v);
      if (ms < 1000 || ms > 255_000) throw new Error("must be between 1s and 255s");
    },
  },
  {
    flag: "upload-min-rate",
    env: "RTER_UPLOAD_MIN_RATE",
    roles: ["api"],
    default: "16KiB",
    doc: "slowest average upload accepted, bytes per second (e.g. 16KiB): a body that trickles in slower is cut with 408 and stores nothing; off = no minimum",
    check: parseByteRate,
  },
  {
    flag: "upload-grace",
    env: "RTER_UPLOAD_GRACE",
    roles: ["api"],
    default: "10s",
    doc: "head start of every upload before --upload-min-rate applies: N bytes may take up to grace + N / min-rate of waiting on the client",
    check: (v) => {
      const ms = parseDuration(v);
      if (ms < 1000 || ms > 600_000) throw new Error("must be between 1s and 10m");
    },
  },
  {
    flag: "ldap-url",
    env: "RTER_LDAP_URL",
    roles: ["api"],
    doc: "LDAP / Active Directory server for sign-in: ldap://host:389 or ldaps://host:636; unset = local accounts only",
    check: (v) => parseUrl(v, ["ldap:", "ldaps:"]),
  },
  { flag: "ldap-bind-dn", env: "RTER_LDAP_BIND_DN", roles: ["api"], doc: "DN of the service account that searches users and reads groups" },
  { flag: "ldap-bind-password", env: "RTER_LDAP_BIND_PASSWORD", roles: ["api"], doc: "password of the service account", secret: true },
  { flag: "ldap-user-base", env: "RTER_LDAP_USER_BASE", roles: ["api"], doc: "where users are searched (subtree), e.g. OU=Staff,DC=city,DC=gov" },
  {
    flag: "ldap-user-filter",
    env: "RTER_LDAP_USER_FILTER",
    roles: ["api"],
    default: "(uid={username})",
    doc: "user search filter; {username} is escaped (RFC 4515); AD: (sAMAccountName={username})",
    check: parseUserFilter,
  },
  {
    flag: "ldap-role-map",
    env: "RTER_LDAP_ROLE_MAP",
    roles: ["api"],
    doc: "directory groups to rter roles: GROUP_DN=role;GROUP_DN=role (the highest role wins; no mapped group = no access)",
    check: parseRoleMap,
  },
  {
    flag: "ldap-ca-file",
    env: "RTER_LDAP_CA_FILE",
    roles: ["api"],
    doc: "PEM file of the CA that signed the directory's certificate (ldaps:// or StartTLS); unset = the system's CAs",
  },
  {
    flag: "ldap-starttls",
    env: "RTER_LDAP_STARTTLS",
    roles: ["api"],
    default: "false",
    doc: "upgrade ldap:// with StartTLS before binding (true or false)",
    check: parseBool,
  },
  {
    flag: "ldap-cache",
    env: "RTER_LDAP_CACHE",
    roles: ["api"],
    default: "5m",
    doc: "a directory user's groups and account state are re-read on their first request after this long (at most 5m)",
    check: parseLdapCache,
  },
  {
    flag: "ldap-timeout",
    env: "RTER_LDAP_TIMEOUT",
    roles: ["api"],
    default: "5s",
    doc: "bound on connecting to the directory and on each operation (then 503)",
    check: parseDuration,
  },
  {
    flag: "ldap-nested-groups",
    env: "RTER_LDAP_NESTED_GROUPS",
    roles: ["api"],
    default: "direct",
    doc: "groups inside mapped groups: direct (only the user's own groups), in-chain (Active Directory's LDAP_MATCHING_RULE_IN_CHAIN) or walk (rter searches --ldap-group-base level by level; any directory)",
    check: parseNestedMode,
  },
  {
    flag: "ldap-group-base",
    env: "RTER_LDAP_GROUP_BASE",
    roles: ["api"],
    doc: "where --ldap-nested-groups walk searches groups (subtree), e.g. OU=Groups,DC=city,DC=gov",
  },
  {
    flag: "ldap-nested-depth",
    env: "RTER_LDAP_NESTED_DEPTH",
    roles: ["api"],
    default: "8",
    doc: "walk: levels of groups followed above the user (1 = direct membership only), 1 to 32",
    check: parseNestedDepth,
  },
  {
    flag: "ldap-nested-max-groups",
    env: "RTER_LDAP_NESTED_MAX_GROUPS",
    roles: ["api"],
    default: "500",
    doc: "walk: groups visited per user before the walk stops (the groups found by then count), 1 to 5000",
    check: parseNestedMaxGroups,
  },
  {
    flag: "oidc-issuer",
    env: "RTER_OIDC_ISSUER",
    roles: ["api"],
    doc: "OpenID Connect provider for sign-in (its issuer identifier, e.g. https://login.microsoftonline.com/TENANT/v2.0); unset = no OIDC sign-in",
    check: (v) => parseUrl(v, ["https:", "http:"]),
  },
  { flag: "oidc-client-id", env: "RTER_OIDC_CLIENT_ID", roles: ["api"], doc: "rter's client id at the provider" },
  {
    flag: "oidc-client-secret-file",
    env: "RTER_OIDC_CLIENT_SECRET_FILE",
    roles: ["api"],
    doc: "file holding rter's client secret on one line (read at start)",
  },
  {
    flag: "oidc-client-secret",
    env: "RTER_OIDC_CLIENT_SECRET",
    roles: ["api"],
    doc: "rter's client secret itself (prefer --oidc-client-secret-file)",
    secret: true,
  },
  {
    flag: "oidc-redirect-url",
    env: "RTER_OIDC_REDIRECT_URL",
    roles: ["api"],
    doc: "callback registered at the provider; default PUBLIC_URL/api/v1/auth/oidc/callback",
    check: (v) => parseUrl(v, ["https:", "http:"]),
  },
  {
    flag: "oidc-post-logout-url",
    env: "RTER_OIDC_POST_LOGOUT_URL",
    roles: ["api"],
    doc: "where the provider sends the browser after logout (registered there too); default PUBLIC_URL/",
    check: (v) => parseUrl(v, ["https:", "http:"]),
  },
  {
    flag: "oidc-scopes",
    env: "RTER_OIDC_SCOPES",
    roles: ["api"],
    default: "openid email profile offline_access",
    doc: "scopes asked for (offline_access gives the refresh token the group re-check uses)",
    check: parseScopes,
  },
  {
    flag: "oidc-role-claim",
    env: "RTER_OIDC_ROLE_CLAIM",
    roles: ["api"],
    default: "groups",
    doc: "ID token claim holding groups or roles (a string or a list); dots walk into objects, e.g. realm_access.roles",
    check: parseRoleClaim,
  },
  {
    flag: "oidc-role-map",
    env: "RTER_OIDC_ROLE_MAP",
    roles: ["api"],
    doc: "claim values to rter roles: VALUE=role;VALUE=role (the highest role wins; no mapped value = no access)",
    check: parseClaimRoleMap,
  },
  {
    flag: "oidc-recheck",
    env: "RTER_OIDC_RECHECK",
    roles: ["api"],
    default: "5m",
    doc: "an OIDC session's groups are read again (refresh grant) on its first request after this long; without a refresh token the session ends then (at most 15m)",
    check: parseOidcRecheck,
  },
  {
    flag: "oidc-timeout",
    env: "RTER_OIDC_TIMEOUT",
    roles: ["api"],
    default: "5s",
    doc: "bound on each request to the provider (then 503)",
    check: parseDuration,
  },
  {
    flag: "oidc-group-overage",
    env: "RTER_OIDC_GROUP_OVERAGE",
    roles: ["api"],
    default: "follow",
    doc: "when the ID token names a claim source for the role claim instead of carrying it (Entra ID group overage): follow (fetch the groups from the source's endpoint with the access token, https only) or refuse (the sign-in is refused, saying why)",
    check: parseGroupOverage,
  },
  { flag: "oidc-name", env: "RTER_OIDC_NAME", roles: ["api"], doc: 'name on the sign-in button ("Sign in with NAME"); default your organisation' },
  {
    flag: "mfa-required",
    env: "RTER_MFA_REQUIRED",
    roles: ["api"],
    default: "admin",
    doc: "roles that must pass a second factor (TOTP, a passkey, or a recovery code) at every sign-in, comma list (e.g. admin,operator) or none; admins by default (CJIS advanced authentication), who set it up at their first sign-in; users who enrolled are always asked",
    check: parseMfaRoles,
  },
  {
    flag: "retention",
    env: "RTER_RETENTION",
    roles: ["worker"],
    default: "off",
    doc: "how long items (finished streams, reports, photos, links) are kept before the retention job deletes them (e.g. 365d), or off; per-stream and per-workspace settings and legal holds win",
    check: (v) => (v === "off" ? null : parseDuration(v)),
  },
  {
    flag: "retention-schedule",
    env: "RTER_RETENTION_SCHEDULE",
    roles: ["worker"],
    default: "41 * * * *",
    doc: "cron schedule (UTC) of the retention job, or off",
    check: parseCronSchedule,
  },
  {
    flag: "audit-head-schedule",
    env: "RTER_AUDIT_HEAD_SCHEDULE",
    roles: ["worker"],
    default: "*/5 * * * *",
    doc: "cron schedule (UTC) on which a worker ships the audit chain's head (seq, hash) as a syslog-style log line and to --audit-head-file, or off",
    check: parseCronSchedule,
  },
  {
    flag: "audit-head-file",
    env: "RTER_AUDIT_HEAD_FILE",
    roles: ["worker"],
    doc: "file the shipped audit heads are appended to, one line each, for a backup outside this host to collect (rter audit verify --head checks against one); unset = log line only",
  },
];

export const JOBS = ["live", "batch", "all"] as const;
/** Which job classes a worker process runs (see TASK_CLASS in core/queue/task-classes.ts). */
export type Jobs = (typeof JOBS)[number];

export function parseJobs(v: string): Jobs {
  if (!(JOBS as readonly string[]).includes(v)) throw new Error(`must be live, batch or all, got "${v}"`);
  return v as Jobs;
}

/** A slippy-map tile URL template: http(s) or origin-relative, with {z}, {x} and {y}. */
/** The file must be there and start like a PMTiles v3 archive: a wrong path fails at start, not in a browser. */
export function checkPmtiles(v: string): void {
  let fd: number;
  try {
    fd = openSync(v, "r");
  } catch (e) {
    throw new Error(`cannot open ${v}: ${(e as Error).message}`);
  }
  try {
    const head = Buffer.alloc(8);
    const n = readSync(fd, head, 0, 8, 0);
    if (n < 8 || head.subarray(0, 7).toString("latin1") !== "PMTiles") throw new Error(`${v} is not a PMTiles archive`);
    if (head[7] !== 3) throw new Error(`${v} is PMTiles version ${head[7]}, only version 3 is read`);
  } finally {
    closeSync(fd);
  }
}

export function parseTileUrl(v: string): string {
  if (!/^(https?:\/\/|\/)/.test(v)) throw new Error(`must start with http://, https:// or /, got "${v}"`);
  for (const p of ["{z}", "{x}", "{y}"]) if (!v.includes(p)) throw new Error(`must contain ${p}`);
  return v;
}
