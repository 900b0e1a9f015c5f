import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { openEmbeddedPostgres, type EmbeddedPostgres } from "../../core/db/embedded-postgres.ts";
import { freePort } from "./net.ts";

const LOCAL_URL = "postgres://postgres@127.0.0.1:5432/postgres";

// `bun test` runs no process 'exit' hooks, so cleanup after the run is done by small detached
// helpers that block on a pipe from us and act when the kernel closes it (our process ended).
function onProcessGone(cmd: string, args: string[], env?: Record<string, string>) {
  const helper = spawn(cmd, args, { stdio: ["pipe", "ignore", "ignore"], detached: true, env: { ...process.env, ...env } });
  helper.unref();
  (helper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return helper;
}

/** A fast, throwaway cluster in a temp dir, removed once its server is gone after we exit. */
async function throwawayCluster(): Promise<EmbeddedPostgres> {
  const dir = mkdtempSync(join(tmpdir(), "rter-pg-"));
  // mkdtemp makes it 0700; as root the server runs as another user and must reach data/.
  chmodSync(dir, 0o755);
  const cluster = await openEmbeddedPostgres({ dataDir: join(dir, "data"), port: await freePort(), fast: true });
  onProcessGone("sh", [
    "-c",
    // Wait (bounded) for the server's own watchdog to have shut it down, then delete the files.
    'while read -r _; do :; done; i=0; while [ -e "$1/data/postmaster.pid" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; rm -rf "$1"',
    "rter-pg-cleanup",
    dir,
  ]);
  return cluster;
}

async function answers(url: string, timeoutMs: number): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

interface BaseServer {
  url: string;
  /** Databases on a server that outlives us must be dropped; a throwaway cluster just goes away. */
  dropper: ReturnType<typeof spawn> | null;
}

let base: Promise<BaseServer> | null = null;

async function findBaseServer(): Promise<BaseServer> {
  const fromEnv = process.env.DATABASE_URL;
  const url = fromEnv || ((await answers(LOCAL_URL, 2_000)) ? LOCAL_URL : null);
  if (!url) {
    const cluster = await throwawayCluster();
    await cluster.start();
    return { url: cluster.url, dropper: null };
  }
  // Bun.SQL rather than pg: the helper is a bare `bun -e` and must not depend on module resolution.
  const script = `
    const names = [];
    for await (const line of console) if (/^rter_test_[a-z0-9]+$/.test(line)) names.push(line);
    const sql = new Bun.SQL(process.env.RTER_TEST_DROP_URL);
    for (const n of names) await sql.unsafe('drop database if exists "' + n + '" with (force)').catch(() => {});
    await sql.close();`;
  return { url, dropper: onProcessGone(process.execPath, ["-e", script], { RTER_TEST_DROP_URL: url }) };
}

/** URL of a fresh, empty database for one test file; dropped (best effort) after the process ends. */
export async function testDatabaseUrl(): Promise<string> {
  base ??= findBaseServer();
  const server = await base;
  const name = `rter_test_${randomBytes(6).toString("hex")}`;
  const client = new pg.Client({ connectionString: server.url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query(`create database "${name}"`);
  } finally {
    await client.end();
  }
  server.dropper?.stdin?.write(`${name}\n`);
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A private, started cluster (temp dir, free port, fast mode) that a test may stop, kill and start again. */
export async function startDisposablePostgres(): Promise<EmbeddedPostgres> {
  const cluster = await throwawayCluster();
  await cluster.start();
  return cluster;
}
