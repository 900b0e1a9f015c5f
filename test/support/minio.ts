import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Subprocess } from "bun";

/** A throwaway MinIO server for integration tests: random port, credentials and data dir. */
export interface TestMinio {
  /** s3:// storage URL (tls=false) pointing at this server's bucket. */
  url: string;
  endPoint: string;
  port: number;
  accessKey: string;
  secretKey: string;
  bucket: string;
  dataDir: string;
  /** Graceful stop (SIGTERM); data and port are kept for start(). */
  stop(): Promise<void>;
  /** Start again on the same port and data dir. */
  start(): Promise<void>;
  /** SIGKILL, like a crash; data and port are kept for start(). */
  kill(): Promise<void>;
  /** SIGSTOP: the socket still accepts connections but nothing answers, the case timeouts exist for. */
  pause(): void;
  resume(): void;
}

const READY_TIMEOUT_MS = 30_000;
const live = new Set<Subprocess>();
process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});

export function findMinioBinary(): string {
  const candidates = [process.env.RTER_MINIO_BIN, Bun.which("minio"), goBin()].filter(Boolean) as string[];
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    throw new Error(
      "MinIO binary not found: set RTER_MINIO_BIN, put `minio` on PATH, or `go install github.com/minio/minio@latest`",
    );
  }
  return found;
}

function goBin(): string | undefined {
  const r = Bun.spawnSync(["go", "env", "GOPATH"], { stdout: "pipe", stderr: "ignore" });
  const gopath = r.success ? r.stdout.toString().trim() : "";
  return path.join(gopath || path.join(process.env.HOME ?? "/root", "go"), "bin", "minio");
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function startMinio(): Promise<TestMinio> {
  const bin = findMinioBinary();
  const root = mkdtempSync(path.join(tmpdir(), "rter-minio-"));
  const dataDir = path.join(root, "data");
  const logFile = path.join(root, "minio.log");
  const port = await freePort();
  const consolePort = await freePort();
  const accessKey = `rter${crypto.randomUUID().slice(0, 8)}`;
  const secretKey = crypto.randomUUID().replaceAll("-", "");
  const bucket = `rter-test-${crypto.randomUUID().slice(0, 8)}`;
  const endPoint = "127.0.0.1";
  let proc: Subprocess | undefined;
  rmOnExit(root);

  async function start(): Promise<void> {
    if (proc && proc.exitCode === null && !proc.killed) return;
    // One append-mode fd for both streams, so restarts add to the log instead of truncating it.
    const log = openSync(logFile, "a");
    const p = Bun.spawn(
      [bin, "server", dataDir, "--address", `${endPoint}:${port}`, "--console-address", `${endPoint}:${consolePort}`, "--quiet"],
      {
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: root,
          MINIO_ROOT_USER: accessKey,
          MINIO_ROOT_PASSWORD: secretKey,
          MINIO_BROWSER: "off",
          MINIO_UPDATE: "off",
        },
        stdout: log,
        stderr: log,
      },
    );
    closeSync(log);
    proc = p;
    live.add(p);
    void p.exited.then(() => live.delete(p));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (p.exitCode !== null) throw new Error(`minio exited with ${p.exitCode}:\n${tail(logFile)}`);
      const ok = await fetch(`http://${endPoint}:${port}/minio/health/live`, { signal: AbortSignal.timeout(1000) })
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) return;
      await Bun.sleep(100);
    }
    p.kill("SIGKILL");
    throw new Error(`minio did not become live within ${READY_TIMEOUT_MS} ms:\n${tail(logFile)}`);
  }

  async function signal(sig: "SIGTERM" | "SIGKILL"): Promise<void> {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    p.kill("SIGCONT"); // a paused process cannot act on SIGTERM
    p.kill(sig);
    await p.exited;
  }

  await start();
  return {
    url: `s3://${encodeURIComponent(accessKey)}:${encodeURIComponent(secretKey)}@${endPoint}:${port}/${bucket}?tls=false`,
    endPoint,
    port,
    accessKey,
    secretKey,
    bucket,
    dataDir,
    start,
    stop: () => signal("SIGTERM"),
    kill: () => signal("SIGKILL"),
    pause: () => proc?.kill("SIGSTOP"),
    resume: () => proc?.kill("SIGCONT"),
  };
}

const roots = new Set<string>();
function rmOnExit(root: string): void {
  if (roots.size === 0) process.on("exit", () => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
  roots.add(root);
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-20).join("\n");
  } catch {
    return "(no log)";
  }
}
