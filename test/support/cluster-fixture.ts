import pg from "pg";
import type { Role } from "../../core/auth/role.ts";
import { startMinio, type TestMinio } from "./minio.ts";
import { testDatabaseUrl } from "./postgres.ts";
import { buildBinary, runCli, startRter, type RterProcess } from "./rter-process.ts";

/**
 * Real `rter serve` processes (from source, or the compiled binary) sharing one fresh database and
 * one MinIO, for tests that signal, kill and restart nodes, and for the browser journeys. stop()
 * takes down everything it started, whatever state a test left it in.
 */
export interface ProcessCluster {
  minio: TestMinio;
  /** A client on the cluster's database, to look at (or stage) rows behind the API's back. */
  db: pg.Client;
  /** DATABASE_URL, RTER_STORAGE_URL and the test's own settings: for startRter and runCli. */
  env: Record<string, string>;
  /** The compiled binary the nodes and cli() run, with `{ binary: true }`; else they run from source. */
  binary?: string;
  /** Starts a node with these `serve` arguments; one still running at stop() is SIGKILLed. */
  spawn(...args: string[]): Promise<RterProcess>;
  /** spawn, then wait until the node's /readyz answers 200. */
  ready(...args: string[]): Promise<RterProcess>;
  /** Runs the CLI (the cluster's binary, if any) with the cluster's env. */
  cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Adds these accounts through the CLI, as an operator would, all with one password. */
  addUsers(password: string, users: readonly (readonly [email: string, role: Role])[]): Promise<void>;
  /** SIGKILLs every node, closes the client, stops MinIO. */
  stop(): Promise<void>;
}

/**
 * Starts MinIO and makes a fresh database; `settings` are extra env for every node and CLI run.
 * `binary`: the nodes run the compiled binary (built once per test process, alongside MinIO's start).
 */
export async function startCluster(settings: Record<string, string> = {}, opts: { binary?: boolean } = {}): Promise<ProcessCluster> {
  const procs: RterProcess[] = [];
  let minio: TestMinio | undefined;
  let db: pg.Client | undefined;
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop("SIGKILL").catch(() => 0)));
    await db?.end();
    await minio?.stop();
  };
  try {
    // Settled, not Promise.all: a MinIO that starts after the build failed must still be stopped.
    const [m, built] = await Promise.allSettled([startMinio(), opts.binary ? buildBinary() : Promise.resolve(undefined)]);
    if (m.status === "rejected") throw m.reason;
    minio = m.value;
    if (built.status === "rejected") throw built.reason;
    const binary = built.value;
    const url = await testDatabaseUrl();
    const env = { DATABASE_URL: url, RTER_STORAGE_URL: minio.url, ...settings };
    db = new pg.Client({ connectionString: url });
    await db.connect();
    const spawn = async (...args: string[]) => {
      const p = await startRter({ env, args, binary });
      procs.push(p);
      return p;
    };
    const cli = (...args: string[]) => runCli(args, env, binary);
    return {
      minio,
      db,
      env,
      binary,
      spawn,
      async ready(...args) {
        const p = await spawn(...args);
        await p.waitReady();
        return p;
      },
      cli,
      async addUsers(password, users) {
        for (const [email, role] of users) {
          const r = await cli("users", "add", "--email", email, "--role", role, "--password", password);
          if (r.code !== 0) throw new Error(r.stderr);
        }
      },
      stop,
    };
  } catch (e) {
    // A half-started cluster has no owner to stop it: do it here.
    await stop().catch(() => {});
    throw e;
  }
}
