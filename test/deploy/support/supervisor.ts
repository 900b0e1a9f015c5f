import { appendFileSync, chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Server, Subprocess } from "bun";
import { underWatchdog } from "../../support/watchdog.ts";
import { readUnit, type ServiceUnit } from "./units.ts";

/**
 * Stands in for systemd on a machine where it is not PID 1: each test "host" is a directory
 * (its root prefix), and the roles, told `*_service_manager: command`, call a per-host hook
 * script as `HOOK start|stop|restart|reload UNIT`. The hook asks this supervisor, which reads the
 * unit the role rendered under that host's prefix (or Debian's packaged unit plus the rendered
 * drop-ins) and runs exactly its ExecStart, as its User/Group, with its Environment and
 * EnvironmentFile, and stops it with its KillSignal and TimeoutStopSec. Restart= is not
 * emulated: a killed service stays down, like a lost host.
 */
export class Supervisor {
  private server: Server<undefined> | null = null;
  private readonly running = new Map<string, Running>();
  private readonly forkingActive = new Set<string>();
  /** Every action asked for, in order: "api1 start rter.service". */
  readonly actions: string[] = [];
  /** When each of `actions` was asked for (Date.now()). */
  readonly actionTimes: number[] = [];

  /** hostEnv: environment a host's services get on top of their unit's (what its systemd would have). */
  constructor(
    private readonly roots: Record<string, string>,
    private readonly dir: string,
    private readonly hostEnv: Record<string, Record<string, string>> = {},
  ) {
    mkdirSync(join(dir, "hooks"), { recursive: true });
    mkdirSync(join(dir, "logs"), { recursive: true });
  }

  listen(): void {
    this.server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      idleTimeout: 255,
      fetch: async (req) => {
        const m = /^\/svc\/([^/]+)\/([a-z-]+)\/([^/]+)$/.exec(new URL(req.url).pathname);
        if (!m) return new Response("bad request\n", { status: 400 });
        const [, host, verb, unit] = m as unknown as [string, string, string, string];
        try {
          return new Response(`${await this.act(host, verb, decodeURIComponent(unit))}\n`);
        } catch (e) {
          return new Response(`${(e as Error).message}\n`, { status: 500 });
        }
      },
    });
  }

  /** Path of the systemctl stand-in for one host (what *_service_command points at). */
  hook(host: string): string {
    if (!this.server) throw new Error("listen() first");
    const path = join(this.dir, "hooks", host);
    writeFileSync(
      path,
      `#!/bin/sh\n# systemctl stand-in for test host ${host}: test/deploy/support/supervisor.ts\n` +
        `exec curl -sS --fail-with-body --max-time 300 "http://127.0.0.1:${this.server.port}/svc/${host}/$1/$2"\n`,
    );
    chmodSync(path, 0o755);
    return path;
  }

  unitOf(host: string, unit: string, moreEnv?: Record<string, string>): ServiceUnit {
    const extraEnv = { ...this.hostEnv[host], ...moreEnv };
    const root = this.roots[host];
    if (root === undefined) throw new Error(`unknown host ${host}`);
    const etc = join(root, "etc/systemd/system");
    const dropinDirs = ["/etc/systemd/system", etc];
    if (existsSync(join(etc, unit))) return readUnit(join(etc, unit), { dropinDirs, extraEnv });
    const tpl = /^(.+)@(.+)\.service$/.exec(unit);
    if (tpl) return readUnit(`/lib/systemd/system/${tpl[1]}@.service`, { name: unit, dropinDirs, instance: tpl[2], extraEnv });
    if (existsSync(`/lib/systemd/system/${unit}`)) return readUnit(`/lib/systemd/system/${unit}`, { dropinDirs, extraEnv });
    throw new Error(`${host}: no unit ${unit}`);
  }

  pid(host: string, unit: string): number | null {
    const r = this.running.get(`${host}/${unit}`);
    return r && r.proc.exitCode === null ? r.pid : null;
  }

  log(host: string, unit: string): string {
    return this.running.get(`${host}/${unit}`)?.log.join("") ?? "";
  }

  async act(host: string, verb: string, unit: string): Promise<"changed" | "unchanged"> {
    this.actions.push(`${host} ${verb} ${unit}`);
    this.actionTimes.push(Date.now());
    switch (verb) {
      case "start":
        return await this.start(host, unit);
      case "stop":
        return await this.stop(host, unit);
      case "restart":
        await this.stop(host, unit);
        await this.start(host, unit);
        return "changed";
      case "reload":
        return await this.reload(host, unit);
      default:
        throw new Error(`unsupported verb ${verb}`);
    }
  }

  /** SIGKILL (or another signal) to a service's main process, as a crash or a lost host. */
  async kill(host: string, unit: string, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const r = this.running.get(`${host}/${unit}`);
    if (!r || r.proc.exitCode !== null) throw new Error(`${host}/${unit} is not running`);
    process.kill(r.pid, signal);
    if (signal === "SIGKILL") await r.proc.exited;
  }

  async stopAll(): Promise<void> {
    const keys = [...this.running.keys()].reverse();
    await Promise.all(keys.map((k) => this.stop(k.split("/")[0]!, k.split("/")[1]!).catch(() => {})));
    for (const k of [...this.forkingActive]) await this.stop(k.split("/")[0]!, k.split("/")[1]!).catch(() => {});
  }

  private async start(host: string, unit: string): Promise<"changed" | "unchanged"> {
    const key = `${host}/${unit}`;
    if (this.pid(host, unit) !== null || this.forkingActive.has(key)) return "unchanged";
    const u = this.unitOf(host, unit);
    const logFile = join(this.dir, "logs", `${host}-${unit}.log`);
    appendFileSync(logFile, `--- start ${new Date().toISOString()}: ${u.execStart.join(" ")}\n`);
    if (u.type === "forking" || u.type === "oneshot") {
      const r = await runToEnd(asUser(u, u.execStart), u, logFile);
      if (r !== 0 && !(u.raw["Service.ExecStart"]?.at(-1) ?? "").startsWith("-")) throw new Error(`${unit} ExecStart exited ${r}`);
      if (u.type === "forking") this.forkingActive.add(key);
      return "changed";
    }
    const argv = asUser(u, u.execStart);
    // Under the watchdog: if the test process dies, the service is SIGKILLed, so nothing outlives a crashed run.
    const proc = Bun.spawn(underWatchdog(argv), {
      cwd: u.workingDirectory ?? "/",
      env: serviceEnv(u),
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    const log: string[] = [];
    const pid = await firstLinePid(proc.stdout as ReadableStream<Uint8Array>, log, logFile);
    void pump(proc.stderr as ReadableStream<Uint8Array>, log, logFile);
    this.running.set(key, { proc, pid, unit: u, log });
    return "changed";
  }

  private async stop(host: string, unit: string): Promise<"changed" | "unchanged"> {
    const key = `${host}/${unit}`;
    if (this.forkingActive.has(key)) {
      const u = this.unitOf(host, unit);
      for (const c of u.execStop) await runToEnd(c, u, join(this.dir, "logs", `${host}-${unit}.log`));
      this.forkingActive.delete(key);
      return "changed";
    }
    const r = this.running.get(key);
    if (!r || r.proc.exitCode !== null) return "unchanged";
    process.kill(r.pid, r.unit.killSignal);
    const code = await Promise.race([r.proc.exited, Bun.sleep(r.unit.timeoutStopMs).then(() => null)]);
    if (code === null) {
      process.kill(r.pid, "SIGKILL");
      await r.proc.exited;
    }
    return "changed";
  }

  private async reload(host: string, unit: string): Promise<"changed" | "unchanged"> {
    const key = `${host}/${unit}`;
    const r = this.running.get(key);
    if (!this.forkingActive.has(key) && (!r || r.proc.exitCode !== null)) return await this.start(host, unit);
    const u = this.unitOf(host, unit, { MAINPID: String(r?.pid ?? "") });
    const logFile = join(this.dir, "logs", `${host}-${unit}.log`);
    for (const c of u.execReload) {
      const code = await runToEnd(c, u, logFile);
      if (code !== 0) throw new Error(`${unit} ExecReload ${c.join(" ")} exited ${code}`);
    }
    return "changed";
  }
}

interface Running {
  proc: Subprocess;
  pid: number;
  unit: ServiceUnit;
  log: string[];
}

function asUser(u: ServiceUnit, argv: string[]): string[] {
  if (!u.user || u.user === "root") return argv;
  return ["setpriv", `--reuid=${u.user}`, `--regid=${u.group ?? u.user}`, "--init-groups", "--", ...argv];
}

function serviceEnv(u: ServiceUnit): Record<string, string> {
  return {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    LANG: "C.UTF-8",
    ...(u.user ? { USER: u.user, LOGNAME: u.user } : {}),
    ...u.env,
  };
}

async function runToEnd(argv: string[], u: ServiceUnit, logFile: string): Promise<number> {
  const p = Bun.spawn(argv, { env: serviceEnv(u), cwd: u.workingDirectory ?? "/", stdout: "pipe", stderr: "pipe", timeout: 120_000 });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  appendFileSync(logFile, out + err);
  return code;
}

async function pump(s: ReadableStream<Uint8Array>, log: string[], logFile: string): Promise<void> {
  const dec = new TextDecoder();
  for await (const chunk of s) {
    const t = dec.decode(chunk, { stream: true });
    log.push(t);
    if (log.length > 2000) log.splice(0, 1000);
    appendFileSync(logFile, t);
  }
}

/** The watchdog prints the service's pid first; everything after is the service's stdout. */
async function firstLinePid(s: ReadableStream<Uint8Array>, log: string[], logFile: string): Promise<number> {
  const reader = s.getReader();
  const dec = new TextDecoder();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value, { stream: true });
  }
  const nl = text.indexOf("\n");
  const pid = Number.parseInt(text.slice(0, nl), 10);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`service did not start: ${text}`);
  const rest = text.slice(nl + 1);
  if (rest) log.push(rest);
  reader.releaseLock();
  void pump(s, log, logFile);
  return pid;
}
