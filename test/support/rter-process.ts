import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "./net.ts";

export const ROOT = resolve(import.meta.dir, "../..");

/** An rter process started from source (bun cmd/rter.ts) or from the compiled binary. */
export interface RterProcess {
  url: string;
  port: number;
  proc: Subprocess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  waitReady(timeoutMs?: number): Promise<void>;
  /** Sends the signal and resolves with the exit code (bounded wait, then SIGKILL). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number>;
}

const live = new Set<Subprocess>();
process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});

export async function startRter(
  opts: { args?: string[]; env?: Record<string, string | undefined>; binary?: string; port?: number; bunFlags?: string[] } = {},
): Promise<RterProcess> {
  const port = opts.port ?? (await freePort());
  // bunFlags: from source with Bun's own flags (a bench's --cpu-prof-md).
  const cmd = opts.binary && !opts.bunFlags ? [opts.binary] : ["bun", ...(opts.bunFlags ?? []), join(ROOT, "cmd/rter.ts")];
  const env: Record<string, string> = {};
  // Tests not about sign-in run without the admins' default second factor (--mfa-required admin);
  // a test that wants the real default passes RTER_MFA_REQUIRED: undefined (or the flag).
  for (const [k, v] of Object.entries({ ...process.env, RTER_LOG_LEVEL: "info", RTER_MFA_REQUIRED: "none", ...opts.env })) if (v !== undefined) env[k] = v;
  if (!opts.args?.includes("--data-dir") && !env.RTER_DATA_DIR) env.RTER_DATA_DIR = mkdtempSync(join(tmpdir(), "rter-data-"));
  const proc = Bun.spawn([...cmd, "serve", "--host", "127.0.0.1", "--port", String(port), ...(opts.args ?? [])], {
    cwd: ROOT,
    env,
    stdout: "pipe",
    stderr: "pipe",
  });
  live.add(proc);
  let out = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of s) out += dec.decode(chunk, { stream: true });
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>);
  void pump(proc.stderr as ReadableStream<Uint8Array>);
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    proc,
    output: () => out,
    async waitReady(timeoutMs = 60_000) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        if (proc.exitCode !== null) throw new Error(`rter exited with ${proc.exitCode} before ready:\n${out.slice(-3000)}`);
        const ok = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
          (r) => r.status === 200,
          () => false,
        );
        if (ok) return;
        await Bun.sleep(100);
      }
      throw new Error(`rter not ready after ${timeoutMs} ms:\n${out.slice(-3000)}`);
    },
    async stop(signal = "SIGTERM", timeoutMs = 30_000) {
      if (proc.exitCode === null) proc.kill(signal);
      const code = await Promise.race([proc.exited, Bun.sleep(timeoutMs).then(() => null)]);
      if (code === null) {
        proc.kill("SIGKILL");
        await proc.exited;
        live.delete(proc);
        throw new Error(`rter did not exit within ${timeoutMs} ms after ${signal}`);
      }
      live.delete(proc);
      return code;
    },
  };
}

/** Runs the CLI to completion and returns its exit code and output. */
export async function runCli(
  args: string[],
  env: Record<string, string | undefined> = {},
  binary?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const cmd = binary ? [binary] : ["bun", join(ROOT, "cmd/rter.ts")];
  const e: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) e[k] = v;
  const proc = Bun.spawn([...cmd, ...args], { cwd: ROOT, env: e, stdout: "pipe", stderr: "pipe", timeout: 120_000 });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Builds dist binary once per test process into a temp path. */
let built: Promise<string> | null = null;
export function buildBinary(): Promise<string> {
  built ??= (async () => {
    const out = join(mkdtempSync(join(tmpdir(), "rter-bin-")), "rter");
    const p = Bun.spawn(["bun", "scripts/build.ts", out], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const code = await p.exited;
    if (code !== 0) throw new Error(`build failed: ${await new Response(p.stderr).text()}`);
    return out;
  })();
  return built;
}
