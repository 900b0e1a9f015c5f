/**
 * The edge certificate from an ACME server, the way docs/deploy.md ("The edge certificate", 2.)
 * tells a city to get it: the haproxy role with `haproxy_acme_http01_port` sends
 * /.well-known/acme-challenge/ on port 80 to a local responder, Debian's certbot (--standalone on
 * that port) answers the HTTP-01 challenge of Pebble (Let's Encrypt's test ACME server) through
 * HAProxy, and its deploy hook installs the bundle and reloads HAProxy. Then HAProxy serves the
 * issued certificate (verified against Pebble's root for rter.city.example), and `site.yml --tags
 * haproxy` run again leaves it in place.
 *
 * The file runs inside its own network namespace (loopback only: Pebble, HAProxy and certbot on
 * 127.0.0.1, ports 80 and 443 as on a real balancer) and mount namespace, whose /etc/hosts maps
 * rter.city.example to 127.0.0.1 (Pebble resolves the name it validates with the system resolver).
 * HAProxy runs under the systemctl stand-in (support/supervisor.ts), as in the rollout test.
 *
 * Needs pebble (scripts/ensure-tools.sh --deploy builds the pinned version) and certbot.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { ansiblePlaybook, tail } from "./support/ansible.ts";
import { insideNamespaces } from "./support/netns.ts";
import { Supervisor } from "./support/supervisor.ts";

const NAME = "rter.city.example";
const HTTP_PORT = 80;
const HTTPS_PORT = 443;
// docs/deploy.md's example port for certbot's standalone responder.
const ACME_PORT = 8888;
const PEBBLE = "127.0.0.1:14000";
const PEBBLE_MANAGEMENT = "127.0.0.1:15000";

function pebbleBinary(): string | null {
  const gobin = join(process.env.GOPATH ?? join(homedir(), "go"), "bin/pebble");
  return existsSync(gobin) ? gobin : Bun.which("pebble");
}

const INNER = insideNamespaces({
  file: import.meta.path,
  inner: "inner",
  describe: "deploy/ansible: the edge certificate from ACME",
  test: "the ACME test passes inside a network namespace with only loopback",
  hosts: `127.0.0.1 localhost ${NAME}\n::1 localhost\n`,
  goBinaries: false,
  missing: () => (pebbleBinary() && Bun.which("certbot") ? null : "pebble or certbot is missing: run bash scripts/ensure-tools.sh --deploy"),
  innerTimeoutMs: 600_000,
  outerTimeoutMs: 1_800_000,
});

let dir = "";
let root = "";
let inventory = "";
let supervisor: Supervisor;
let pebble: Subprocess | null = null;
/** Pebble's own HTTPS certificate (what certbot trusts for the directory), and the root it issues under. */
let pebbleTls = "";
let issuingRoot = "";

function sh(argv: string[], env: Record<string, string> = {}): { code: number; out: string } {
  const p = Bun.spawnSync(argv, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? -1, out: p.stdout.toString() + p.stderr.toString() };
}

function must(argv: string[], env: Record<string, string> = {}): string {
  const r = sh(argv, env);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} exited ${r.code}:\n${r.out}`);
  return r.out;
}

/** The SHA-256 fingerprint of the certificate HAProxy presents for NAME (no verification). */
function servedFingerprint(): string {
  const s = Bun.spawnSync(["openssl", "s_client", "-connect", `127.0.0.1:${HTTPS_PORT}`, "-servername", NAME], {
    stdin: new Uint8Array(),
    stdout: "pipe",
    stderr: "pipe",
  });
  const x = Bun.spawnSync(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], { stdin: s.stdout, stdout: "pipe", stderr: "pipe" });
  return x.stdout.toString().trim();
}

function fileFingerprint(pem: string): string {
  return must(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", pem]).trim();
}

/** curl as a browser would go there: by name (this namespace's /etc/hosts), verifying against caFile. */
function curl(url: string, caFile?: string): { code: number; status: string; location: string; out: string } {
  const r = sh(["curl", "-sS", "-o", "/dev/null", "--max-time", "10", "-w", "%{http_code} %{redirect_url}", ...(caFile ? ["--cacert", caFile] : []), url]);
  const [status = "", location = ""] = r.out.split(" ");
  return { code: r.code, status, location: location.trim(), out: r.out };
}

async function until<T>(what: string, fn: () => T | null | undefined | false, ms = 30_000): Promise<T> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    const v = fn();
    if (v) return v;
    await Bun.sleep(200);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

// A haproxy-only run took ~3 min on a loaded 2-core machine.
const site = () => ansiblePlaybook(["-i", inventory, "site.yml", "--tags", "haproxy", "--limit", "lb1"], {}, 480_000);

beforeAll(async () => {
  if (!INNER) return;
  dir = mkdtempSync(join(tmpdir(), "rter-acme-"));
  chmodSync(dir, 0o755);
  root = join(dir, "lb1");
  mkdirSync(root, { recursive: true });
  chmodSync(root, 0o755);

  // Pebble's HTTPS listener: a throwaway certificate for 127.0.0.1 that certbot is told to trust.
  pebbleTls = join(dir, "pebble-tls.pem");
  must([
    "openssl",
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=pebble test listener",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "-keyout",
    join(dir, "pebble-tls.key"),
    "-out",
    pebbleTls,
  ]);
  const config = join(dir, "pebble.json");
  writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: PEBBLE,
        managementListenAddress: PEBBLE_MANAGEMENT,
        certificate: pebbleTls,
        privateKey: join(dir, "pebble-tls.key"),
        // Where Pebble's validator connects for HTTP-01: the balancer's port 80.
        httpPort: HTTP_PORT,
        tlsPort: 5001,
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
      },
    }),
  );
  // No random sleeps before validating and no deliberately rejected nonces: the same protocol, faster.
  pebble = Bun.spawn([pebbleBinary()!, "-config", config], {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" },
    stdout: Bun.file(join(dir, "pebble.log")),
    stderr: Bun.file(join(dir, "pebble.err.log")),
  });
  await until("Pebble's directory", () => sh(["curl", "-sf", "--cacert", pebbleTls, `https://${PEBBLE}/dir`]).code === 0 || null);
  issuingRoot = join(dir, "pebble-root.pem");
  writeFileSync(issuingRoot, must(["curl", "-sf", "--cacert", pebbleTls, `https://${PEBBLE_MANAGEMENT}/roots/0`]));

  supervisor = new Supervisor({ lb1: root }, join(dir, "supervisor"));
  supervisor.listen();
  const hook = supervisor.hook("lb1");
  inventory = join(dir, "hosts.yml");
  const inv = {
    all: {
      vars: {
        ansible_connection: "local",
        ansible_host: "127.0.0.1",
        ansible_python_interpreter: "/usr/bin/python3",
        ansible_become_method: "su",
        // No release bundle here: only the haproxy role's tasks run.
        rter_bundle_verify: false,
        haproxy_root: root,
        haproxy_service_manager: "command",
        haproxy_service_command: hook,
        haproxy_bind_address: "127.0.0.1",
        haproxy_http_port: HTTP_PORT,
        haproxy_https_port: HTTPS_PORT,
        haproxy_server_name: NAME,
        haproxy_tls_pki_dir: join(dir, "pki"),
        haproxy_log_journald: false,
        // As docs/deploy.md says: the responder's port, and no haproxy_tls_pem_src (the ACME client owns the file).
        haproxy_acme_http01_port: ACME_PORT,
      },
      children: {
        lb: { hosts: { lb1: {} } },
        // A backend to balance (never started: the edge certificate needs none).
        rter: { children: { rter_api: { hosts: { api1: { rter_advertise_address: "127.0.0.1", rter_port: 18080 } } } } },
      },
    },
  };
  mkdirSync(join(dir, "pki"));
  writeFileSync(inventory, JSON.stringify(inv, null, 2));
}, 120_000);

afterAll(async () => {
  if (!INNER) return;
  await supervisor?.stopAll();
  pebble?.kill();
  await pebble?.exited;
  if (dir && !process.env.RTER_DEPLOY_KEEP) rmSync(dir, { recursive: true, force: true });
});

(INNER ? describe : () => {})("the edge certificate from an ACME server (Pebble) through HAProxy's HTTP-01 route", () => {
  const pem = () => join(root, "etc/haproxy/certs/rter.pem");
  let issued = "";

  test("site.yml --tags haproxy with haproxy_acme_http01_port: challenges go to the responder's port, every other path to https", async () => {
    const r = await site();
    if (r.code !== 0) throw new Error(`site.yml failed:\n${tail(r, 80)}`);
    const cfg = readFileSync(join(root, "etc/haproxy/haproxy.cfg"), "utf8");
    expect(cfg).toContain(`server acme 127.0.0.1:${ACME_PORT}`);
    await until("HAProxy answers on port 80", () => curl(`http://${NAME}/`).status !== "000" || null);
    expect(curl(`http://${NAME}/items`)).toMatchObject({ status: "301", location: `https://${NAME}/items` });
    // Nothing listens on the responder's port yet: HAProxy's 503, not the redirect.
    expect(curl(`http://${NAME}/.well-known/acme-challenge/x`).status).toBe("503");
    // Until the ACME client ran, the fallback (internal CA) certificate: not one Pebble's root vouches for.
    const before = curl(`https://${NAME}/readyz`, issuingRoot);
    expect({ code: before.code, status: before.status }).toEqual({ code: 60, status: "000" });
  }, 600_000);

  test("certbot --standalone on that port gets a certificate from Pebble through HAProxy; its deploy hook installs it and reloads HAProxy", async () => {
    const cb = join(dir, "certbot");
    // docs/deploy.md's command, with this host's prefix and its systemctl stand-in.
    const target = pem();
    const deployHook =
      `cat "$RENEWED_LINEAGE/fullchain.pem" "$RENEWED_LINEAGE/privkey.pem" > ${target}.new ` +
      `&& chmod 600 ${target}.new && mv ${target}.new ${target} && ${supervisor.hook("lb1")} reload haproxy.service`;
    const t0 = performance.now();
    // Not spawnSync: the deploy hook calls the systemctl stand-in, served by this process.
    const p = Bun.spawn(
      [
        "certbot",
        "certonly",
        "--standalone",
        "--http-01-port",
        String(ACME_PORT),
        "--http-01-address",
        "127.0.0.1",
        "-d",
        NAME,
        "--server",
        `https://${PEBBLE}/dir`,
        "--deploy-hook",
        deployHook,
        "--non-interactive",
        "--agree-tos",
        "--register-unsafely-without-email",
        "--config-dir",
        join(cb, "config"),
        "--work-dir",
        join(cb, "work"),
        "--logs-dir",
        join(cb, "logs"),
      ],
      { env: { ...process.env, REQUESTS_CA_BUNDLE: pebbleTls }, stdout: "pipe", stderr: "pipe", timeout: 240_000 },
    );
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    const out = stdout + stderr;
    if (code !== 0) throw new Error(`certbot exited ${code}:\n${out}\n${readFileSync(join(dir, "pebble.log"), "utf8").slice(-4000)}`);
    console.log(`certbot against Pebble: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(out).toContain("Successfully received certificate");
    // Pebble validated through port 80 of the balancer, i.e. through HAProxy's acme_http01 backend.
    expect(readFileSync(join(dir, "pebble.log"), "utf8")).toMatch(/authz \S+ set VALID by completed challenge/);
    issued = join(cb, "config/live", NAME, "cert.pem");
    const want = fileFingerprint(issued);
    expect(fileFingerprint(pem())).toBe(want);
    // The reload is HAProxy's master starting a new worker with the new file.
    await until("HAProxy serves the issued certificate", () => servedFingerprint() === want || null);
    const after = curl(`https://${NAME}/readyz`, issuingRoot);
    // Verified (curl's exit 0) for the name; 503: no API node behind it, which is not this test's business.
    expect({ code: after.code, status: after.status, out: after.code ? after.out : "" }).toEqual({ code: 0, status: "503", out: "" });
  }, 600_000);

  test("site.yml --tags haproxy again leaves the ACME certificate in place", async () => {
    expect(issued).not.toBe("");
    const r = await site();
    if (r.code !== 0) throw new Error(`site.yml failed:\n${tail(r, 80)}`);
    expect(r.changedTasks.filter((t) => /certificate|TLS bundle/i.test(t))).toEqual([]);
    expect(fileFingerprint(pem())).toBe(fileFingerprint(issued));
    expect(servedFingerprint()).toBe(fileFingerprint(issued));
  }, 600_000);
});
