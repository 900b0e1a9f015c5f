import pg from "pg";
import { startMinio, type TestMinio } from "./minio.ts";
import { testDatabaseUrl } from "./postgres.ts";
import { startRter, type RterProcess } from "./rter-process.ts";

/**
 * Real `rter serve` processes (from source) sharing one fresh database and one MinIO, for tests
 * that signal, kill and restart nodes. stop() takes down everything it started, whatever state a
 * test left it in.
 */
export interface ProcessCluster {
  minio: TestMinio;
  /** A client on the cluster's database, to look at (or stage) rows behind the API's back. */
  db: pg.Client;
  /** DATABASE_URL, RTER_STORAGE_URL and the test's own settings: for startRter and runCli. */
  env: Record<string, string>;
  /** Starts a node with these `serve` arguments; one still running at stop() is SIGKILLed. */
  spawn(...args: string[]): Promise<RterProcess>;
  /** spawn, then wait until the node's /readyz answers 200. */
  ready(...args: string[]): Promise<RterProcess>;
  /** SIGKILLs every node, closes the client, stops MinIO. */
  stop(): Promise<void>;
}

/** Starts MinIO and makes a fresh database; `settings` are extra env for every node and CLI run. */
export async function startCluster(settings: Record<string, string> = {}): Promise<ProcessCluster> {
  const procs: RterProcess[] = [];
  let minio: TestMinio | undefined;
  let db: pg.Client | undefined;
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop("SIGKILL").catch(() => 0)));
    await db?.end();
    await minio?.stop();
  };
  try {
    minio = await startMinio();
    const url = await testDatabaseUrl();
    const env = { DATABASE_URL: url, RTER_STORAGE_URL: minio.url, ...settings };
    db = new pg.Client({ connectionString: url });
    await db.connect();
    const spawn = async (...args: string[]) => {
      const p = await startRter({ env, args });
      procs.push(p);
      return p;
    };
    return {
      minio,
      db,
      env,
      spawn,
      async ready(...args) {
        const p = await spawn(...args);
        await p.waitReady();
        return p;
      },
      stop,
    };
  } catch (e) {
    // A half-started cluster has no owner to stop it: do it here.
    await stop().catch(() => {});
    throw e;
  }
}
