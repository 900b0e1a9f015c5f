import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeNode } from "../../cmd/context.ts";
import { buildConfig, type RawValues } from "../../core/config/load.ts";
import { buildApp } from "../../app/http.ts";
import { wrapHandler } from "../../core/http/server.ts";
import { resolveModules, startModules } from "../../app/modules.ts";
import type { ApiContext, StorageContext, WorkerContext } from "../../core/runtime.ts";
import { startMinio, type TestMinio } from "./minio.ts";
import { testDatabaseUrl } from "./postgres.ts";

/**
 * The node with what its roles opened, for tests to reach inside: a test app runs the api or the
 * worker role, so the database and the store are there; the rest depends on the roles chosen.
 */
export type TestNode = StorageContext & Partial<Omit<ApiContext & WorkerContext, keyof StorageContext>>;

/** The real app in this process (real Postgres, storage, ffmpeg), driven through fetch-style Requests. */
export interface TestApp {
  rt: TestNode;
  /** The role contexts, when the roles run. */
  api?: ApiContext;
  worker?: WorkerContext;
  /** Real HTTP on 127.0.0.1 (for clients like ffmpeg that need a URL). */
  url: string;
  request(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

export async function startTestApp(settings: RawValues): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), "rter-app-"));
  // Tests not about sign-in run without the admins' default second factor; a test that wants the
  // real default passes "mfa-required": undefined.
  const config = buildConfig({ "data-dir": dataDir, "log-level": "error", "mfa-required": "none", ...settings }, {});
  const node = makeNode(config, "test");
  const started = await startModules(node, resolveModules(config.roles));
  const app = buildApp(node, started);
  const handle = wrapHandler(node, (req) => app.handle(req));
  node.phase = "ready";
  // The role contexts are the node itself with their resources set (app/modules.ts).
  const rt: TestNode | undefined = started.api ?? started.worker;
  if (!rt) {
    await started.stop();
    throw new Error(`startTestApp needs the api or the worker role, got ${config.roles.join(",")}`);
  }
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: handle,
    maxRequestBodySize: config.http.bodyLimitBytes,
    idleTimeout: config.http.idleTimeoutSeconds,
  });
  return {
    rt,
    api: started.api,
    worker: started.worker,
    url: `http://127.0.0.1:${server.port}`,
    request: (path, init) => handle(new Request(`http://rter.test${path}`, init)),
    stop: async () => {
      rt.phase = "stopping";
      await server.stop(true);
      await started.stop();
    },
  };
}

/** Two nodes in this process sharing one fresh database and one MinIO, as behind a load balancer. */
export interface AppPair {
  a: TestApp;
  b: TestApp;
  minio: TestMinio;
  /** Stops both nodes, then MinIO. */
  stop(): Promise<void>;
}

/** Starts MinIO, makes a fresh database and starts two nodes on it, one after the other, with `settings`. */
export async function startAppPair(settings: RawValues = {}): Promise<AppPair> {
  let minio: TestMinio | undefined;
  let a: TestApp | undefined;
  let b: TestApp | undefined;
  const stop = async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await minio?.stop();
  };
  try {
    minio = await startMinio();
    const shared = { "database-url": await testDatabaseUrl(), "storage-url": minio.url, ...settings };
    a = await startTestApp(shared);
    b = await startTestApp(shared);
    return { a, b, minio, stop };
  } catch (e) {
    // A half-started pair has no owner to stop it: do it here.
    await stop().catch(() => {});
    throw e;
  }
}

export function json(body: unknown, init: RequestInit = {}): RequestInit {
  return { method: "POST", ...init, headers: { "content-type": "application/json", ...init.headers }, body: JSON.stringify(body) };
}
