import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Subprocess } from "bun";
import { underWatchdog } from "./watchdog.ts";

/** A throwaway MinIO server for integration tests: random port, credentials and data dir. */
export interface TestMinio {
  /** s3:// storage URL pointing at this server's bucket: tls=false, or with opts.tls its ca=. */
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
  pause(): Promise<void>;
  resume(): void;
}

const READY_TIMEOUT_MS = 30_000;

/**
 * Removes the temp dir once this process is gone (restarts must keep the data, so not earlier).
 * The shell itself must stay up: Bun closes a child's stdin pipe as soon as that child exits.
 */
const JANITOR = `exec 3<&0 </dev/null
( while IFS= read -r _; do :; done; sleep 2; rm -rf "$1" ) <&3 >/dev/null 2>&1 &
exec 3<&-
wait`;

const janitors: Subprocess<"pipe", "ignore", "ignore">[] = [];

export function findMinioBinary(): string {
  const candidates = [process.env.RTER_MINIO_BIN, Bun.which("minio"), goBin()].filter(Boolean) as string[];
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    throw new Error("MinIO binary not found: set RTER_MINIO_BIN, put `minio` on PATH, or `go install github.com/minio/minio@latest`");
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

/**
 * opts.tls: serve HTTPS only, with this certificate and key (MinIO's --certs-dir: public.crt,
 * private.key, CAs/), as the deploy role does with the internal CA's.
 */
export async function startMinio(opts: { tls?: { certFile: string; keyFile: string; caFile: string } } = {}): Promise<TestMinio> {
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
  const certsDir = path.join(root, "certs");
  if (opts.tls) {
    mkdirSync(path.join(certsDir, "CAs"), { recursive: true });
    copyFileSync(opts.tls.certFile, path.join(certsDir, "public.crt"));
    copyFileSync(opts.tls.keyFile, path.join(certsDir, "private.key"));
    copyFileSync(opts.tls.caFile, path.join(certsDir, "CAs", "ca.crt"));
  }
  const ca = opts.tls ? readFileSync(opts.tls.caFile, "utf8") : undefined;
  let proc: Subprocess<"pipe", "pipe", "ignore"> | undefined;
  let pid = 0; // MinIO itself; proc is the watchdog shell around it
  // Own session, so a CI timeout that signals our whole process group does not take the janitor too.
  const setsid = Bun.which("setsid");
  const janitorCmd = [...(setsid ? [setsid] : []), "sh", "-c", JANITOR, "sh", root];
  const janitor = Bun.spawn(janitorCmd, { stdin: "pipe", stdout: "ignore", stderr: "ignore" });
  janitor.unref();
  janitors.push(janitor);

  async function start(): Promise<void> {
    if (running()) return;
    // Under the watchdog, MinIO is killed when this process dies for any reason; it logs to logFile.
    const p = Bun.spawn(
      underWatchdog(
        [
          bin,
          "server",
          dataDir,
          "--address",
          `${endPoint}:${port}`,
          "--console-address",
          `${endPoint}:${consolePort}`,
          "--quiet",
          ...(opts.tls ? ["--certs-dir", certsDir] : []),
        ],
        logFile,
      ),
      {
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: root,
          MINIO_ROOT_USER: accessKey,
          MINIO_ROOT_PASSWORD: secretKey,
          MINIO_BROWSER: "off",
          MINIO_UPDATE: "off",
        },
        stdin: "pipe",
        stdout: "pipe",
        stderr: "ignore", // MinIO itself logs to logFile; the shell would only add "Killed"
      },
    );
    proc = p;
    pid = await firstLine(p.stdout);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (p.exitCode !== null) throw new Error(`minio exited with ${p.exitCode}:\n${tail(logFile)}`);
      // 'live' answers before the S3 API does (it returns 503 XMinioServerNotInitialized for a
      // moment after a restart); 'ready' means requests will be served.
      if ((await healthy("live")) && (await healthy("ready"))) return;
      await Bun.sleep(100);
    }
    await signal("SIGKILL");
    throw new Error(`minio did not become live within ${READY_TIMEOUT_MS} ms:\n${tail(logFile)}`);
  }

  async function healthy(probe: "live" | "ready"): Promise<boolean> {
    const url = `${opts.tls ? "https" : "http"}://${endPoint}:${port}/minio/health/${probe}`;
    return await fetch(url, { signal: AbortSignal.timeout(1000), ...(ca ? { tls: { ca } } : {}) } as RequestInit).then(
      (r) => r.ok,
      () => false,
    );
  }

  // The watchdog shell exits with MinIO, so this also keeps us from signalling a recycled pid.
  const running = () => proc !== undefined && proc.exitCode === null;

  async function signal(sig: "SIGTERM" | "SIGKILL"): Promise<void> {
    if (!running()) return;
    process.kill(pid, "SIGCONT"); // a paused process cannot act on SIGTERM
    process.kill(pid, sig);
    await proc?.exited;
  }

  await start();
  return {
    url: `s3://${encodeURIComponent(accessKey)}:${encodeURIComponent(secretKey)}@${endPoint}:${port}/${bucket}?${opts.tls ? `ca=${encodeURIComponent(opts.tls.caFile)}` : "tls=false"}`,
    endPoint,
    port,
    accessKey,
    secretKey,
    bucket,
    dataDir,
    start,
    stop: () => signal("SIGTERM"),
    kill: () => signal("SIGKILL"),
    pause: async () => {
      if (!running()) return;
      process.kill(pid, "SIGSTOP");
      // The signal is asynchronous; on Linux wait until the kernel reports the process stopped.
      for (let i = 0; i < 100 && existsSync(`/proc/${pid}/stat`); i++) {
        if (/^\d+ \(.*\) T /.test(readFileSync(`/proc/${pid}/stat`, "utf8"))) return;
        await Bun.sleep(10);
      }
    },
    resume: () => {
      if (running()) process.kill(pid, "SIGCONT");
    },
  };
}

async function firstLine(out: ReadableStream<Uint8Array>): Promise<number> {
  let text = "";
  for await (const chunk of out) {
    text += new TextDecoder().decode(chunk);
    if (text.includes("\n")) break;
  }
  const n = Number.parseInt(text, 10);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`minio watchdog did not report a pid (got "${text}")`);
  return n;
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-20).join("\n");
  } catch {
    return "(no log)";
  }
}
