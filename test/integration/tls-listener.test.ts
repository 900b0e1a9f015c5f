/**
 * rter serve --tls-cert/--tls-key: the real process (from source, real Postgres) answers HTTPS
 * with the certificate an internal CA (openssl, here) issued, which a client trusting that CA
 * verifies; a plaintext request on the same port gets no HTTP answer; a client trusting another CA
 * refuses the connection. Bad files stop the process in one line.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { testDatabaseUrl } from "../support/postgres.ts";
import { runCli, startRter, type RterProcess } from "../support/rter-process.ts";
import { makeTestCa, type TestCa } from "../support/tls.ts";

let ca: TestCa;
let rter: RterProcess;
let base: string;

beforeAll(async () => {
  ca = makeTestCa("rter internal CA");
  const { certFile, keyFile } = ca.issue("api1", ["IP:127.0.0.1", "DNS:api1.city.lan"]);
  rter = await startRter({ args: ["--roles", "api,web", "--tls-cert", certFile, "--tls-key", keyFile], env: { DATABASE_URL: await testDatabaseUrl() } });
  base = `https://127.0.0.1:${rter.port}`;
  const until = Date.now() + 60_000;
  for (;;) {
    if (rter.proc.exitCode !== null) throw new Error(`rter exited ${rter.proc.exitCode}:\n${rter.output().slice(-3000)}`);
    const ok = await fetch(`${base}/readyz`, { tls: { ca: ca.caPem }, signal: AbortSignal.timeout(2_000) } as RequestInit).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > until) throw new Error(`rter not ready over TLS:\n${rter.output().slice(-3000)}`);
    await Bun.sleep(200);
  }
}, 90_000);

afterAll(async () => {
  await rter?.stop();
});

describe("the HTTPS listener", () => {
  test("a client trusting the internal CA gets verified HTTPS: probes and the API answer", async () => {
    const health = await fetch(`${base}/healthz`, { tls: { ca: ca.caPem } } as RequestInit);
    expect(health.status).toBe(200);
    // The API itself over the same verified connection: a wrong sign-in is a 401 problem, not a TLS error.
    const login = await fetch(`${base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "nobody@city.example", password: "wrong password here" }),
      tls: { ca: ca.caPem },
    } as RequestInit);
    expect(login.status).toBe(401);
    expect(login.headers.get("content-type")).toContain("application/problem+json");
  });

  test("the certificate's name is checked too: a client dialing a name the certificate lacks is refused", async () => {
    const err = await fetch(`https://localhost:${rter.port}/healthz`, { tls: { ca: ca.caPem } } as RequestInit).then(
      () => null,
      (e: Error) => e.message,
    );
    expect(err).not.toBeNull();
  });

  test("a client trusting another CA refuses the connection", async () => {
    const other = makeTestCa("rter internal CA");
    const err = await fetch(`${base}/healthz`, { tls: { ca: other.caPem } } as RequestInit).then(
      () => null,
      (e: Error) => e.message,
    );
    expect(err).toMatch(/certificate|verify|signature/i);
  });

  test("a plaintext request on the port gets no HTTP answer", async () => {
    const err = await fetch(`http://127.0.0.1:${rter.port}/healthz`).then(
      (r) => `HTTP ${r.status}`,
      (e: Error) => e.message,
    );
    expect(err).not.toMatch(/^HTTP/);
    // The raw bytes of a plaintext request: whatever comes back (a TLS alert, or nothing) is not HTTP.
    const reply = await new Promise<string>((resolve) => {
      const s = net.connect(rter.port, "127.0.0.1", () => s.write("GET /healthz HTTP/1.1\r\nHost: api1\r\n\r\n"));
      let got = "";
      s.on("data", (d) => (got += d.toString("latin1")));
      s.on("close", () => resolve(got));
      s.on("error", () => resolve(got));
      s.setTimeout(5_000, () => s.destroy());
    });
    expect(reply.startsWith("HTTP/")).toBe(false);
  });
});

describe("bad TLS files stop the process in one line naming the flag", () => {
  test("a key without its certificate, and a key of another certificate", async () => {
    const { certFile } = ca.issue("api2", ["IP:127.0.0.1"]);
    const { keyFile: otherKey } = ca.issue("api3", ["IP:127.0.0.1"]);
    for (const [args, msg] of [
      [["--tls-key", otherKey], /^rter: --tls-key: needs --tls-cert/],
      [["--tls-cert", certFile, "--tls-key", otherKey], /^rter: --tls-key: .*api3\.key is not the private key of the certificate in .*api2\.crt$/],
    ] as const) {
      const r = await runCli(["serve", "--verify-config", ...args], { DATABASE_URL: undefined });
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(msg);
    }
  }, 60_000);
});
