import type { Jobs, Role } from "./settings.ts";
import type { StorageConfig } from "../storage/store.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";

/** The whole validated configuration: built once in cmd/, frozen, passed down. */
export interface Config {
  /** Roles this process runs; each selects modules from core/modules.ts. */
  readonly roles: readonly Role[];
  readonly http: {
    readonly host: string;
    readonly port: number;
    /** The URL people reach; printed at start and used for links. */
    readonly publicUrl: string;
    /** Largest request body in bytes; larger bodies get 413 before they are read. */
    readonly bodyLimitBytes: number;
  };
  readonly database: {
    /** null = run an embedded Postgres in dataDir. */
    readonly url: string | null;
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
  readonly fixity: {
    /** Cron schedule (UTC) of the periodic fixity check; null = only on demand. */
    readonly schedule: string | null;
  };
  readonly ingest: {
    /** Largest chunk body; larger uploads get 413 and leave nothing stored. */
    readonly maxChunkBytes: number;
    /** A missing seq holds the live playlist at most this long, then a discontinuity. */
    readonly gapWaitMs: number;
  };
  readonly media: {
    /** ffmpeg runs longer than this are killed. */
    readonly ffmpegTimeoutMs: number;
  };
  readonly adminEmail: string;
  readonly logLevel: LogLevel;
}
