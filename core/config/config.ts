import type { Jobs, Role } from "./settings.ts";
import type { StorageConfig } from "../storage/store.ts";
import type { RatePolicy } from "./parse.ts";
import type { LdapConfig, UserRole } from "./ldap.ts";
import type { OidcConfig } from "./oidc.ts";
import type { TlsFiles } from "./tls.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";

/** The whole validated configuration: built once in cmd/, frozen, passed down. */
export interface Config {
  /** Roles this process runs; each selects modules from app/modules.ts. */
  readonly roles: readonly Role[];
  readonly http: {
    readonly host: string;
    readonly port: number;
    /** The URL people reach; printed at start and used for links. */
    readonly publicUrl: string;
    /** Largest request body in bytes; larger bodies get 413 before they are read. */
    readonly bodyLimitBytes: number;
    /** Largest request header block in bytes (431 above). */
    readonly headerLimitBytes: number;
    /** Certificate and key (PEM text) of an HTTPS-only listener; null = plain HTTP. */
    readonly tls: TlsFiles | null;
    /** Seconds a connection may sit silent before it is closed (Bun.serve idleTimeout). */
    readonly idleTimeoutSeconds: number;
    /**
     * Slow-upload cut-off for streamed bodies (chunks): once graceMs of waiting on the client have
     * passed, the body must have arrived at minBytesPerSecond on average (408 otherwise), so a
     * client trickling a byte every few seconds cannot hold an upload forever. null = no minimum.
     */
    readonly upload: { readonly minBytesPerSecond: number | null; readonly graceMs: number };
  };
  readonly database: {
    /** null = run an embedded Postgres in dataDir. */
    readonly url: string | null;
    /**
     * The owner role that runs migrations and sets the runtime role's rights (core/db/roles.ts);
     * null with an external url = that url's role does both (no split). Embedded: the cluster's
     * superuser owns, the app runs as rter_app.
     */
    readonly ownerUrl: string | null;
    readonly poolMax: number;
    readonly statementTimeoutMs: number;
    readonly connectTimeoutMs: number;
    readonly embeddedPort: number;
  };
  readonly storage: StorageConfig;
  readonly dataDir: string;
  /** Explicit ffmpeg path, or null to search ffmpeg-static then PATH. */
  readonly ffmpeg: string | null;
  readonly worker: {
    readonly concurrency: number;
    readonly shutdownGraceMs: number;
    /** Job classes this worker runs; a live-only worker keeps segment jobs from waiting behind batch work. */
    readonly jobs: Jobs;
    /** How often this worker writes its heartbeat row. */
    readonly heartbeatIntervalMs: number;
    /** A worker whose heartbeat is older than this is dead; any other worker releases its jobs. */
    readonly deadAfterMs: number;
  };
  readonly audit: {
    /** Cron schedule (UTC) of shipping the chain's head; null = never. */
    readonly headSchedule: string | null;
    /** Absolute path the head lines are appended to; null = log line only. */
    readonly headFile: string | null;
  };
  readonly fixity: {
    /** Cron schedule (UTC) of the periodic fixity check; null = only on demand. */
    readonly schedule: string | null;
  };
  readonly ingest: {
    /** Largest chunk body; larger uploads get 413 and leave nothing stored. */
    readonly maxChunkBytes: number;
    /** A missing seq holds the live playlist at most this long, then a discontinuity. */
    readonly gapWaitMs: number;
    /** Live streams silent this long are finished by the worker; null = never. */
    readonly idleFinishMs: number | null;
  };
  readonly media: {
    /** ffmpeg runs longer than this are killed. */
    readonly ffmpegTimeoutMs: number;
  };
  readonly web: {
    /** Tile URL template of the console's map; null = markers on a blank grid. */
    readonly mapTileUrl: string | null;
    /** Absolute path of the PMTiles archive served as the base map; null = none. */
    readonly mapPmtiles: string | null;
  };
  readonly security: {
    /** Signs session tokens; null = a random key kept in Postgres (auth_secrets). */
    readonly sessionSecret: string | null;
    /** Sliding expiry of session tokens; API tokens do not idle out. */
    readonly sessionIdleMs: number;
    /** Absolute lifetime of a session token. */
    readonly sessionMaxMs: number;
    /** Consecutive failed sign-ins that lock an account. */
    readonly loginMaxFailures: number;
    readonly loginLockoutMs: number;
    /** Per token (sessions included), unless the token carries its own. */
    readonly rateLimit: RatePolicy;
    /** Per client address, for calls without valid credentials. */
    readonly rateLimitAnonymous: RatePolicy;
    /** Per client address, for sign-in and invite acceptance. */
    readonly rateLimitLogin: RatePolicy;
    /** Per user, across all their tokens and sessions (a login mints a new token, not a new quota). */
    readonly rateLimitUser: RatePolicy;
    /** HLS reads per user, in their own bucket (see PLAYBACK_ROUTE in auth.http.ts). */
    readonly rateLimitPlayback: RatePolicy;
    /** Items a reporter may create per window, across their tokens; null = no quota. */
    readonly quotaItems: RatePolicy | null;
    /** Event streams a reporter may hold open at once, cluster-wide; null = no limit. */
    readonly maxEventStreams: number | null;
    /** Peers whose X-Forwarded-For names the client; empty = the socket peer is the client. */
    readonly trustedProxies: readonly string[];
    /** Origins allowed to call the API cross-origin (bearer tokens only, no cookies). */
    readonly corsOrigins: readonly string[];
    /** Directory sign-in (LDAP / Active Directory); null = local accounts only. */
    readonly ldap: LdapConfig | null;
    /** Sign-in through an OpenID Connect provider; null = none. */
    readonly oidc: OidcConfig | null;
    /** Roles whose sign-in needs a second factor (TOTP or a recovery code). */
    readonly mfaRequired: readonly UserRole[];
  };
  readonly retention: {
    /** Finished streams older than this are deleted by the retention job; null = kept forever. */
    readonly defaultMs: number | null;
    /** Cron schedule (UTC) of the retention job; null = never scheduled. */
    readonly schedule: string | null;
  };
  readonly adminEmail: string;
  readonly logLevel: LogLevel;
}
