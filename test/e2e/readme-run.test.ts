import { expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "../support/net.ts";
import { ROOT } from "../support/rter-process.ts";

/**
 * The README's run command, exactly as written there, on embedded defaults: no DATABASE_URL, no
 * storage URL. It must come up ready, print the first admin login, and stop cleanly.
 */
test("README run command starts the appliance on embedded defaults and stops cleanly", async () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const runCommand = /<!-- run -->\s*```sh\n(.+)\n```/.exec(readme)?.[1];
  expect(runCommand).toBe("bash scripts/run.sh");

  const dataDir = mkdtempSync(join(tmpdir(), "rter-readme-"));
  chmodSync(dataDir, 0o755); // the embedded Postgres runs as an unprivileged user and must reach it
  const [port, pgPort] = [await freePort(), await freePort()];
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== "DATABASE_URL" && k !== "RTER_STORAGE_URL") env[k] = v;
  Object.assign(env, { RTER_DATA_DIR: dataDir, RTER_PORT: String(port), RTER_HOST: "127.0.0.1", RTER_EMBEDDED_PG_PORT: String(pgPort) });
  const proc: Subprocess = Bun.spawn(["bash", "-c", runCommand!], { cwd: ROOT, env, stdout: "pipe", stderr: "pipe" });
  let out = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s) out += new TextDecoder().decode(c);
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>);
  void pump(proc.stderr as ReadableStream<Uint8Array>);
  try {
    const url = `http://127.0.0.1:${port}`;
    let ready = false;
    for (let i = 0; i < 600 && !ready && proc.exitCode === null; i++) {
      ready = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status === 200, () => false);
      if (!ready) await Bun.sleep(100);
    }
    expect(ready ? "ready" : out.slice(-3000)).toBe("ready");
    const m = /URL:\s+(\S+)\n\s+Email:\s+(\S+)\n\s+Password:\s+(\S+)/.exec(out);
    expect(m).not.toBeNull();
    const login = await fetch(`${url}/api/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email: m![2], password: m![3] }) });
    expect(login.status).toBe(200);
    const status = (await (await fetch(`${url}/api/v1/status`)).json()) as { storage: { kind: string }; postgres: { reachable: boolean } };
    expect(status.storage.kind).toBe("file");
    expect(status.postgres.reachable).toBe(true);
    expect(existsSync(join(dataDir, "postgres", "PG_VERSION"))).toBe(true);
    expect((await fetch(url + "/")).status).toBe(200);
  } finally {
    proc.kill("SIGTERM");
  }
  expect(await proc.exited).toBe(0);
  // The embedded Postgres went down with it.
  expect(existsSync(join(dataDir, "postgres", "postmaster.pid"))).toBe(false);
}, 180_000);

test("README test command is what .ci/run runs", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const testCommand = /<!-- test -->\s*```sh\n(.+)\n```/.exec(readme)?.[1];
  expect(testCommand).toBe("bash scripts/test.sh");
  const ci = readFileSync(join(ROOT, ".ci/run"), "utf8");
  expect(ci).toContain("scripts/test.sh");
});
