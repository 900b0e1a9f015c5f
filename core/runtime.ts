import type { Config } from "./config/config.ts";
import type { Database } from "./db/kysely.ts";
import type { Logger } from "./log.ts";
import type { RequestMetrics } from "./metrics.ts";
import type { ObjectStore } from "./storage/store.ts";
import type { Role } from "./config/settings.ts";
import type { EventHub } from "./events/events.hub.ts";
import type { CredentialWatch } from "./events/credential-watch.ts";
import type { EventLeases } from "./events/event-leases.ts";
import type { PartWaiter } from "./streams/part-waiter.ts";
import type { RateLimiter } from "./ratelimit/ratelimit.ts";
import type { CredentialCache } from "./auth/credential-cache.ts";
import type { ViewDedupe } from "./audit/audit.service.ts";
import type { InitCache } from "./streams/cmaf-ingest.service.ts";
import type { LlListCache } from "./streams/ll-hls.service.ts";

/** A started module's readiness probe: resolves when its dependency answers, throws when not. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

/**
 * What every process has from its first line: the config, the log, its identity and its
 * readiness. The role contexts below extend it with what their modules opened; each is built by
 * app/modules.ts only once everything it names is open, so no member is ever missing.
 */
export interface NodeContext {
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: RequestMetrics;
  /** Unique per process; names this node in logs, jobs and the status page. */
  readonly nodeId: string;
  readonly version: string;
  checks: ReadinessCheck[];
  phase: "starting" | "ready" | "stopping";
  has(role: Role): boolean;
}

/** A process with the database open (the CLI's commands). */
export interface DatabaseContext extends NodeContext {
  readonly database: Database;
}

/** A process with the database and the object store open. */
export interface StorageContext extends DatabaseContext {
  readonly store: ObjectStore;
}

/** The `worker` role: media jobs need ffmpeg besides the database and the store. */
export interface WorkerContext extends StorageContext {
  readonly ffmpegPath: string;
  readonly ffprobePath: string;
}

/** The `api` role: its LISTEN connections, and the caches that belong to this node. */
export interface ApiContext extends StorageContext {
  /** The LISTEN connection that feeds this node's SSE clients. */
  readonly events: EventHub;
  /** Ends open event streams whose credential stopped holding. */
  readonly credentialWatch: CredentialWatch;
  /** The cluster-wide count of each reporter's open event streams. */
  readonly eventLeases: EventLeases;
  /** The LISTEN connection that wakes blocked LL-HLS requests when a CMAF part commits. */
  readonly parts: PartWaiter;
  /** This node's short memory of credential rows, forgotten on every rter_auth notice. */
  readonly credentials: CredentialCache;
  /** This node's rate-limit batches and memory of buckets over their limit. */
  readonly rateLimits: RateLimiter;
  /** This node's memory of views it recorded (audit dedupe). */
  readonly views: ViewDedupe;
  /** This node's parsed CMAF inits of the streams it has seen. */
  readonly cmafInits: InitCache;
  /** This node's shared reads and closed prefixes of LL-HLS lists. */
  readonly llLists: LlListCache;
}

/** The `web` role serves the UI pages: it opens nothing. */
export type WebContext = NodeContext;
