import { afterAll, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { signIn } from "../support/admin.ts";
import { freePort } from "../support/net.ts";
import { ROOT } from "../support/rter-process.ts";

/**
 * The README's run command, exactly as written there, from a fresh clone with nothing prepared
 * for it: no data directory, no node_modules, no DATABASE_URL, no storage URL. Only the ports
 * are chosen (so runs do not collide). It must come up ready, print the first admin login,
 * answer a request without a Host header, and stop cleanly with its embedded Postgres.
 */
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const runCommand = /<!-- run -->\s*```sh\n(.+)\n```/.exec(readme)?.[1];
const NEWCOMER = "rter-newcomer";
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.reverse()) {
    try {
      c();
    } catch {
      // best effort: a leftover temp clone does not fail the suite
    }
  }
});

function sh(cmd: string[], opts: { cwd?: string } = {}): string {
  const r = Bun.spawnSync(cmd, { cwd: opts.cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

/** A fresh clone of this checkout's HEAD at dir (like `git clone URL` would give a newcomer). */
function freshClone(dir: string): void {
  sh(["git", "clone", "-q", "--no-hardlinks", ROOT, dir]);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
}

/** A raw HTTP/1.0 request with no Host header, as simple health checkers send. */
async function noHostRequest(port: number, path: string): Promise<string> {
  return await new Promise<string>((resolve, reject) => {
    let got = "";
    const timer = setTimeout(() => reject(new Error(`no answer without Host: ${got}`)), 10_000);
    void Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          s.write(`GET ${path} HTTP/1.0\r\n\r\n`);
        },
        data(_s, d) {
          got += d.toString();
        },
        close() {
          clearTimeout(timer);
          resolve(got);
        },
        error(_s, e) {
          clearTimeout(timer);
          reject(e);
        },
      },
    });
  });
}

interface Login {
  email: string;
  password: string;
}

/** Runs the README command in clone until ready; the first start prints the admin login, a later one is given it. */
async function runReadme(clone: string, runAs: string | null, known?: Login): Promise<Login> {
  const [port, pgPort] = [await freePort(), await freePort()];
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !["DATABASE_URL", "RTER_STORAGE_URL", "RTER_DATA_DIR", "RTER_CONFIG"].includes(k)) env[k] = v;
  }
  Object.assign(env, { RTER_PORT: String(port), RTER_HOST: "127.0.0.1", RTER_EMBEDDED_PG_PORT: String(pgPort) });
  if (runAs) Object.assign(env, { HOME: `/home/${runAs}`, USER: runAs, LOGNAME: runAs });
  // The user's own process (setuid in the spawn, no wrapper): signals reach the command itself.
  const ids = runAs ? { uid: Number(sh(["id", "-u", runAs]).trim()), gid: Number(sh(["id", "-g", runAs]).trim()) } : {};
  const proc = spawn("bash", ["-c", runCommand!], { cwd: clone, env, stdio: ["ignore", "pipe", "pipe"], ...ids });
  let out = "";
  let creds: Login | undefined;
  proc.stdout!.on("data", (d) => (out += String(d)));
  proc.stderr!.on("data", (d) => (out += String(d)));
  const exited = new Promise<number | string>((res) => proc.once("exit", (code, signal) => res(code ?? String(signal))));
  try {
    const url = `http://127.0.0.1:${port}`;
    let ready = false;
    // Bounded: the first run installs the npm dependencies of the fresh clone.
    for (let i = 0; i < 1500 && !ready && proc.exitCode === null && proc.signalCode === null; i++) {
      ready = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (!ready) await Bun.sleep(200);
    }
    expect(ready ? "ready" : out.slice(-3000)).toBe("ready");
    const m = /URL:\s+(\S+)\n\s+Email:\s+(\S+)\n\s+Password:\s+(\S+)/.exec(out);
    if (!known) expect(m).not.toBeNull();
    creds = known ?? { email: m![2]!, password: m![3]! };
    // Admins need a second factor by default (--mfa-required admin): the password step answers 202;
    // the first sign-in enrols TOTP (the app's key, a code), a later one answers with a code.
    const login = await fetch(`${url}/api/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(creds) });
    expect(login.status).toBe(202);
    expect(((await login.json()) as { enrolled: boolean }).enrolled).toBe(!!known);
    if (!known) expect(out).toContain("Admins need a second factor");
    const session = await signIn(url, creds);
    expect(session.secret !== undefined).toBe(!known);
    expect((await fetch(`${url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${session.token}` } })).status).toBe(200);
    const status = (await (await fetch(`${url}/api/v1/status`)).json()) as { storage: { kind: string }; postgres: { reachable: boolean } };
    expect(status.storage.kind).toBe("file");
    expect(status.postgres.reachable).toBe(true);
    // The default data dir, inside the clone, holds the cluster (directly or as a link to it).
    expect(existsSync(join(clone, ".rter", "postgres", "PG_VERSION"))).toBe(true);
    expect((await fetch(url + "/")).status).toBe(200);
    for (const path of ["/healthz", "/", "/api/v1/status"]) {
      const raw = await noHostRequest(port, path);
      expect(raw).toMatch(/^HTTP\/1\.[01] 200 /);
      expect(raw).not.toContain("Invalid URL");
    }
  } finally {
    proc.kill("SIGTERM");
  }
  expect(await exited).toBe(0);
  // The embedded Postgres went down with it.
  expect(existsSync(join(clone, ".rter", "postgres", "postmaster.pid"))).toBe(false);
  return creds!;
}

test("the README run command is `bash scripts/run.sh`", () => {
  expect(runCommand).toBe("bash scripts/run.sh");
});

const isRoot = process.getuid?.() === 0;

test.skipIf(!isRoot)(
  "as root, from a fresh clone in root's home (mode 0700): ready, and again on a second start",
  async () => {
    const clone = join("/root", `rter-readme-${crypto.randomUUID().slice(0, 8)}`);
    freshClone(clone);
    const login = await runReadme(clone, null);
    // The cluster could not live under /root (postgres cannot pass it): it is linked from the data dir.
    const link = join(clone, ".rter", "postgres");
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    const target = realpathSync(link);
    expect(target.startsWith("/root/")).toBe(false);
    cleanups.push(() => rmSync(target, { recursive: true, force: true }));
    await runReadme(clone, null, login);
  },
  600_000,
);

test.skipIf(!isRoot)(
  "as root, from a fresh clone outside any home: ready",
  async () => {
    const base = mkdtempSync(join(tmpdir(), "rter-readme-"));
    chmodSync(base, 0o755); // an ordinary parent such as /opt or /srv (mkdtemp makes it 0700)
    cleanups.push(() => rmSync(base, { recursive: true, force: true }));
    const clone = join(base, "rter");
    freshClone(clone);
    await runReadme(clone, null);
    // Here nothing blocks the way: the cluster lives in the data dir itself.
    expect(lstatSync(join(clone, ".rter", "postgres")).isSymbolicLink()).toBe(false);
  },
  600_000,
);

test.skipIf(!isRoot)(
  "as an unprivileged user, from a fresh clone in their home: ready",
  async () => {
    if (Bun.spawnSync(["id", "-u", NEWCOMER]).exitCode !== 0) sh(["useradd", "--create-home", "--shell", "/bin/bash", NEWCOMER]);
    const clone = join("/home", NEWCOMER, `rter-${crypto.randomUUID().slice(0, 8)}`);
    freshClone(clone);
    sh(["chown", "-R", `${NEWCOMER}:${NEWCOMER}`, clone]);
    await runReadme(clone, NEWCOMER);
  },
  600_000,
);

test("README test command is what .ci/run runs", () => {
  const testCommand = /<!-- test -->\s*```sh\n(.+)\n```/.exec(readme)?.[1];
  expect(testCommand).toBe("bash scripts/test.sh");
  const ci = readFileSync(join(ROOT, ".ci/run"), "utf8");
  expect(ci).toContain("scripts/test.sh");
});
