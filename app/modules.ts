import { join } from "node:path";
import type { Role } from "../core/config/settings.ts";
import { openDatabase, waitForDatabase } from "../core/db/kysely.ts";
import { migrateToLatest } from "../core/db/migrate.ts";
import { openEmbeddedPostgres } from "../core/db/embedded-postgres.ts";
import { EMBEDDED_RUNTIME_ROLE, ensureLoginRole, runtimeRoleProblems, urlAsRole, urlRole } from "../core/db/roles.ts";
import { AppError } from "../core/errors.ts";
import { ffmpegVersion, locateFfmpeg, locateFfprobe } from "../core/media/ffmpeg-locate.ts";
import type { ApiContext, DatabaseContext, NodeContext, WorkerContext } from "../core/runtime.ts";
import type { Database } from "../core/db/kysely.ts";
import type { ObjectStore } from "../core/storage/store.ts";
import { openStore } from "../core/storage/open.ts";
import { withTimeout } from "../core/util/timeout.ts";
import { retry } from "../core/util/retry.ts";

/**
 * Roles are made of modules. Each module names what it needs and how to start; the registry
 * starts the closure of what the chosen roles need in dependency order and stops it in reverse.
 * `api`, `web` and `worker` are just modules that depend on the resources they use.
 */
export type ModuleName = "database" | "storage" | "ffmpeg" | "queue-worker" | "api" | "web";

/**
 * What the modules started so far opened. Only the registry sees this partial record: the role
 * contexts built from it (core/runtime.ts) are complete, each built once its module's needs ran.
 */
export interface Opened {
  database?: Database;
  store?: ObjectStore;
  ffmpeg?: { ffmpegPath: string; ffprobePath: string };
  api?: ApiContext;
  worker?: WorkerContext;
}

export interface ModuleDef {
  needs: ModuleName[];
  /** Opens the module's resource into `opened`; returns how to stop it. */
  start(node: NodeContext, opened: Opened): Promise<(() => Promise<void>) | void>;
}

/** A resource a module needs: the registry starts needs first, so a missing one is a bug in `needs`. */
function need<K extends keyof Opened>(opened: Opened, key: K, by: ModuleName): NonNullable<Opened[K]> {
  const v = opened[key];
  if (v === undefined) throw new Error(`module ${by} started before ${key}: its needs are wrong`);
  return v as NonNullable<Opened[K]>;
}

/**
 * A role's context is the node itself with the role's resources set on it: one object, so the
 * node's phase and readiness checks are the same wherever a context is held. Set once, here.
 */
function extend<T extends NodeContext>(node: NodeContext, add: Omit<T, keyof NodeContext>): T {
  return Object.assign(node, add) as T;
}

const STARTUP_DEADLINE_MS = 120_000;
const CHECK_TIMEOUT_MS = 2_000;

export const ROLE_MODULES: Record<Role, ModuleName[]> = {
  api: ["api"],
  web: ["web"],
  worker: ["queue-worker"],
};

export const MODULES: Record<ModuleName, ModuleDef> = {
  database: {
    needs: [],
    async start(rt, opened) {
      const { config, log } = rt;
      let url = config.database.url;
      let ownerUrl = config.database.ownerUrl;
      let stopEmbedded: (() => Promise<void>) | undefined;
      let embedded = false;
      if (!url) {
        const pg = await openEmbeddedPostgres({
          dataDir: join(config.dataDir, "postgres"),
          port: config.database.embeddedPort,
          log: (line) =>
            /^(cluster placed in|binaries copied to) /.test(line) ? log.info("embedded postgres", { line }) : log.debug("embedded postgres", { line }),
        });
        await pg.start();
        // The cluster's superuser owns and migrates; the app runs as a role that cannot undo evidence.
        ownerUrl = pg.url;
        url = urlAsRole(pg.url, EMBEDDED_RUNTIME_ROLE);
        embedded = true;
        stopEmbedded = () => pg.stop();
        log.info("embedded postgres started", { port: config.database.embeddedPort, dir: pg.clusterDir });
      }
      try {
        if (ownerUrl) await migrateAsOwner(ownerUrl, url, embedded, config.database, rt);
      } catch (e) {
        await stopEmbedded?.();
        throw e;
      }
      const database = openDatabase({ ...config.database, url, applicationName: `rter:${rt.nodeId}` }, log);
      await waitForDatabase(database.pool, STARTUP_DEADLINE_MS, log);
      // Without an owner URL the one role both migrates and runs (or, holding DML only, finds nothing pending).
      if (!ownerUrl) await migrateToLatest(database, url, log);
      opened.database = database;
      rt.checks.push({
        name: "postgres",
        check: () =>
          withTimeout(
            database.pool.query("select 1").then(() => {}),
            CHECK_TIMEOUT_MS,
            "postgres did not answer",
          ),
      });
      return async () => {
        await database.close();
        await stopEmbedded?.();
      };
    },
  },
  storage: {
    needs: [],
    async start(rt, opened) {
      const store = openStore(rt.config.storage);
      // Waiting cannot fix a bucket that contradicts the configuration (object_lock on one without it).
      await retry(() => store.ensure(), {
        deadlineMs: STARTUP_DEADLINE_MS,
        retryable: (e) => !(e instanceof AppError && e.code === "conflict"),
        onRetry: (e) => rt.log.warn("waiting for object storage", { err: (e as Error).message }),
      });
      opened.store = store;
      rt.checks.push({ name: "storage", check: () => withTimeout(store.ping(), CHECK_TIMEOUT_MS, "object storage did not answer") });
      return () => store.close();
    },
  },
  ffmpeg: {
    needs: [],
    async start(rt, opened) {
      const path = await locateFfmpeg(rt.config.ffmpeg);
      const version = await ffmpegVersion(path);
      opened.ffmpeg = { ffmpegPath: path, ffprobePath: locateFfprobe(path) };
      rt.log.info("ffmpeg found", { path, version });
      rt.checks.push({
        name: "ffmpeg",
        check: async () => {
          if (!(await Bun.file(path).exists())) throw new AppError("unavailable", `ffmpeg vanished from ${path}`);
        },
      });
    },
  },
  "queue-worker": {
    needs: ["database", "storage", "ffmpeg"],
    async start(node, opened) {
      const ctx = extend<WorkerContext>(node, {
        database: need(opened, "database", "queue-worker"),
        store: need(opened, "store", "queue-worker"),
        ...need(opened, "ffmpeg", "queue-worker"),
      });
      opened.worker = ctx;
      const { startQueueWorker } = await import("../workers/runner.ts");
      const worker = await startQueueWorker(ctx);
      node.checks.push({ name: "queue-worker", check: async () => worker.assertRunning() });
      return () => worker.stop();
    },
  },
  // The HTTP routes of api/web are mounted by app/http.ts on the contexts built here.
  api: {
    needs: ["database", "storage"],
    async start(rt, opened) {
      const database = need(opened, "database", "api");
      const store = need(opened, "store", "api");
      const { EventHub } = await import("../core/events/events.hub.ts");
      const { CredentialWatch } = await import("../core/events/credential-watch.ts");
      const hub = new EventHub(database.url, database.db, rt.log);
      const { EventLeases } = await import("../core/events/event-leases.ts");
      const watch = new CredentialWatch(database.db, rt.config.security, rt.log);
      const leases = new EventLeases(database.db, rt.nodeId, rt.log);
      const { CredentialCache } = await import("../core/auth/credential-cache.ts");
      const credentials = new CredentialCache(() => hub.generation);
      hub.onAuthChange((userId) => {
        credentials.forgetUser(userId);
        void watch.recheck();
      });
      await hub.start();
      watch.start();
      leases.start();
      // Blocking LL-HLS reloads wait on this node's LISTEN for committed CMAF parts.
      const { PartWaiter } = await import("../core/streams/part-waiter.ts");
      const parts = new PartWaiter(database.url, rt.log);
      await parts.start();
      const { RateLimiter } = await import("../core/ratelimit/ratelimit.ts");
      const { ViewDedupe } = await import("../core/audit/audit.service.ts");
      const { InitCache } = await import("../core/streams/cmaf-ingest.service.ts");
      const { LlListCache } = await import("../core/streams/ll-hls.service.ts");
      // The node's caches: what one node remembers, never shared with another (tests run two in one process).
      const caches = { credentials, rateLimits: new RateLimiter(), views: new ViewDedupe(), cmafInits: new InitCache(), llLists: new LlListCache() };
      opened.api = extend<ApiContext>(rt, { database, store, events: hub, credentialWatch: watch, eventLeases: leases, parts, ...caches });
      // Per node (Prometheus adds the instance): every open GET /api/v1/events holds one subscription
      // to this node's hub, from its start until it ends, is cancelled, or the node drains it.
      const unwatchStreams = rt.metrics.watchGauge("rter_event_streams_open", "Event streams (GET /api/v1/events) open on this node.", () => hub.subscribers);
      return async () => {
        unwatchStreams();
        await parts.stop();
        watch.stop();
        await leases.stop();
        await hub.stop();
      };
    },
  },
  web: { needs: [], async start() {} },
};

/**
 * Migrates with the owner role on a short-lived pool of its own, then sets the runtime role's
 * rights (created first in embedded mode). A runtime role that could step over those rights
 * (superuser, owner of the tables) is refused: the split would be a pretence.
 */
async function migrateAsOwner(ownerUrl: string, runtimeUrl: string, embedded: boolean, db: NodeContext["config"]["database"], rt: NodeContext): Promise<void> {
  const runtimeRole = urlRole(runtimeUrl);
  if (runtimeRole === urlRole(ownerUrl))
    throw new AppError("bad_request", `--database-url and --database-owner-url both sign in as ${runtimeRole}: the runtime role must be another role`);
  const owner = openDatabase({ ...db, url: ownerUrl, poolMax: 2, applicationName: `rter-migrate:${rt.nodeId}` }, rt.log);
  try {
    await waitForDatabase(owner.pool, STARTUP_DEADLINE_MS, rt.log);
    if (embedded) {
      const client = await owner.pool.connect();
      try {
        await ensureLoginRole(client, runtimeRole);
      } finally {
        client.release();
      }
    }
    await migrateToLatest(owner, ownerUrl, rt.log, { runtimeRole });
    const problems = await owner.pool.connect().then(async (c) => {
      try {
        return await runtimeRoleProblems(c, runtimeRole);
      } finally {
        c.release();
      }
    });
    if (problems.length > 0) throw new AppError("bad_request", `--database-url: the runtime role is unfit (${problems.join("; ")})`);
  } finally {
    await owner.close();
  }
}

/** Every module the roles need, dependencies first, each once. */
export function resolveModules(roles: readonly Role[]): ModuleName[] {
  const order: ModuleName[] = [];
  const visit = (m: ModuleName) => {
    if (order.includes(m)) return;
    for (const dep of MODULES[m].needs) visit(dep);
    order.push(m);
  };
  for (const r of roles) for (const m of ROLE_MODULES[r]) visit(m);
  return order;
}

/** What a node started: the contexts of its roles, and how to stop them. */
export interface StartedNode extends Opened {
  /** Stops the started modules in reverse order. */
  stop(): Promise<void>;
}

/**
 * Starts modules in order; returns what they opened and a stop function that stops the started
 * ones in reverse. `opened` fills as they start (the health routes report it meanwhile).
 */
export async function startModules(rt: NodeContext, names: ModuleName[], opened: Opened = {}): Promise<StartedNode> {
  const stops: { name: ModuleName; stop: () => Promise<void> }[] = [];
  const stopAll = async () => {
    for (const { name, stop } of stops.reverse()) {
      try {
        await stop();
      } catch (e) {
        rt.log.warn("module stop failed", { module: name, err: (e as Error).message });
      }
    }
  };
  try {
    for (const name of names) {
      const t0 = performance.now();
      const stop = await MODULES[name].start(rt, opened);
      if (stop) stops.push({ name, stop });
      rt.log.debug("module started", { module: name, ms: Math.round(performance.now() - t0) });
    }
  } catch (e) {
    await stopAll();
    throw e;
  }
  return { ...opened, stop: stopAll };
}

/** The database alone (the CLI's commands): the context, and how to close it. */
export async function openDatabaseContext(node: NodeContext): Promise<{ ctx: DatabaseContext; stop: () => Promise<void> }> {
  const started = await startModules(node, ["database"]);
  return { ctx: extend<DatabaseContext>(node, { database: need(started, "database", "database") }), stop: started.stop };
}
