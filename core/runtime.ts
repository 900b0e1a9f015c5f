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

/** A started module's readiness probe: resolves when its dependency answers, throws when not. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

/**
 * What a running process holds: the config, and the resources its modules opened. Optional
 * members exist only when a role of this process needs them.
 */
export interface Runtime {
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: RequestMetrics;
  /** Unique per process; names this node in logs, jobs and the status page. */
  readonly nodeId: string;
  readonly version: string;
  database?: Database;
  store?: ObjectStore;
  ffmpegPath?: string;
  ffprobePath?: string;
  /** API nodes: the LISTEN connection that feeds their SSE clients. */
  events?: EventHub;
  /** API nodes: ends open event streams whose credential stopped holding. */
  credentialWatch?: CredentialWatch;
  /** API nodes: the cluster-wide count of each reporter's open event streams. */
  eventLeases?: EventLeases;
  /** API nodes: the LISTEN connection that wakes blocked LL-HLS requests when a CMAF part commits. */
  parts?: PartWaiter;
  checks: ReadinessCheck[];
  phase: "starting" | "ready" | "stopping";
  has(role: Role): boolean;
}
