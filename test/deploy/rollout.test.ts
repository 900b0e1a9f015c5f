/**
 * deploy/ansible applied for real, from a release bundle, with outbound network refused: the
 * bundle is built (`scripts/release.ts`, MinIO and mc from the release cache) and signed with a
 * throwaway key, verified and unpacked; site.yml from its ansible/ on seven "hosts" of this
 * machine (inventory aliases with ansible_connection=local, each with its own root prefix and
 * ports on 127.0.0.1) takes empty hosts to a first login in one run, and a second run changes
 * nothing; the rendered units are checked by systemd-analyze; then HAProxy in front of two API
 * and two worker nodes: a stream survives losing one of each mid-stream, upgrade.yml rolls a new
 * release that adds a migration and rollback.yml goes back to the previous binary on the migrated
 * schema, both with no failed request, and backup.yml dumps the database.
 *
 * The whole file runs inside its own network namespace (loopback only) and mount namespace (a
 * private /run/postgresql): the outer test below re-runs this file there and passes only if it
 * passed.
 *
 * systemd is not PID 1 here, so the roles run with `*_service_manager: command` and call a
 * systemctl stand-in (support/supervisor.ts) that starts exactly the ExecStart of the unit the
 * role rendered, as its User, with its environment. PostgreSQL is Debian's 15/main, made under
 * db1's prefix the way the postgresql-15 package makes it (without checksums); MinIO the minio
 * role's.
 *
 * RTER_DEPLOY_BINARY: use this prebuilt binary instead of building.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import pg from "pg";
import { signIn } from "../support/admin.ts";
import { makeChunks } from "../support/media.ts";
import { buildBinary, ROOT } from "../support/rter-process.ts";
import { release, type ReleaseResult } from "../../scripts/release.ts";
import { ansiblePlaybook, tail, type PlaybookRun } from "./support/ansible.ts";
import { LbClient } from "./support/client.ts";
import { insideNamespaces } from "./support/netns.ts";
import { API_HOSTS, dropTestPostgresCluster, HOSTS, makeCluster, PG_CLUSTER, PG_VERSION, WORKER_HOSTS, type TestCluster } from "./support/cluster.ts";

const RTER = "rter.service";
const sha256 = (file: string) => new Bun.CryptoHasher("sha256").update(readFileSync(file)).digest("hex");
/** The migration the "next release" adds: expand-only, so the previous binary runs on it. */
const DRILL_MIGRATION = "2099_12_31_0001_rollback_drill";

const INNER = insideNamespaces({
  file: import.meta.path,
  inner: "inner",
  describe: "deploy/ansible",
  test: "the rollout tests pass inside a network namespace with only loopback",
  tmpfs: "rter-deploy-pg",
  innerTimeoutMs: 1_200_000,
});

let cluster: TestCluster;
let binary: string;
let nextBinary: string;
let bundle: ReleaseResult & { unpacked: string; ansibleDir: string; dependencies: string[] };
let reporterToken = "";

/**
 * The "next release": this source plus one expand-only migration (a table and a nullable column),
 * built from a copy of the tree, so upgrade.yml has a migration to run and rollback.yml a newer
 * schema to go back over.
 */
async function buildNext(): Promise<string> {
  const src = mkdtempSync(join(tmpdir(), "rter-next-src-"));
  for (const d of ["app", "cmd", "core", "web", "workers"]) cpSync(join(ROOT, d), join(src, d), { recursive: true, filter: (p) => !p.endsWith(".test.ts") });
  for (const f of ["package.json", "tsconfig.json", "bunfig.toml"]) if (existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(src, f));
  symlinkSync(join(ROOT, "node_modules"), join(src, "node_modules"));
  writeFileSync(
    join(src, "core/db/migrations", `${DRILL_MIGRATION}.ts`),
    `import { sql, type Kysely } from "kysely";
export const expandOnly = true;
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql\`create table rollback_drill (id bigint generated always as identity primary key, note text)\`.execute(db);
  await sql\`alter table streams add column drill_note text\`.execute(db);
}
export async function down(db: Kysely<unknown>): Promise<void> {
  await sql\`alter table streams drop column drill_note\`.execute(db);
  await sql\`drop table rollback_drill\`.execute(db);
}
`,
  );
  const index = join(src, "core/db/migrations/index.ts");
  const text = readFileSync(index, "utf8");
  const registered = text.replace(
    /(\nconst MIGRATIONS: Record<string, Migration> = \{\n)/,
    `\nimport * as drill from "./${DRILL_MIGRATION}.ts";$1  "${DRILL_MIGRATION}": drill,\n`,
  );
  if (registered === text) throw new Error("could not register the drill migration in the copied index.ts");
  writeFileSync(index, registered);
  const out = join(src, "rter-next");
  const p = Bun.spawn(["bun", "build", "--compile", "--minify", "cmd/rter.ts", "--outfile", out], { cwd: src, stdout: "pipe", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(`build of the next release failed: ${await new Response(p.stderr).text()}`);
  return out;
}

/** Builds, signs, verifies and unpacks the release bundle the playbooks install from. */
async function makeBundle(rterBinary: string): Promise<typeof bundle> {
  const dir = mkdtempSync(join(tmpdir(), "rter-release-"));
  const key = join(dir, "signing-key");
  expect(Bun.spawnSync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test release key", "-f", key]).exitCode).toBe(0);
  // package.json as the release read it (others may add a dependency while the tests run).
  const dependencies = Object.keys(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).dependencies);
  const r = await release({ out: join(dir, "dist"), signingKey: key, rterBinary, version: "0.0.0-test" });
  const unpacked = join(dir, "unpacked");
  mkdirSync(unpacked);
  expect(Bun.spawnSync(["tar", "-xzf", r.archive, "-C", unpacked]).exitCode).toBe(0);
  const root = join(unpacked, `rter-${r.version}-${r.platform}`);
  return { ...r, unpacked: root, ansibleDir: join(root, "ansible"), dependencies };
}

function verifySignature(allowedSigners: string, sig: string, file: string): { code: number; out: string } {
  const p = Bun.spawnSync(["ssh-keygen", "-Y", "verify", "-f", allowedSigners, "-I", "releases@rter", "-n", "rter-release", "-s", sig], {
    stdin: Bun.file(file),
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: p.exitCode, out: p.stdout.toString() + p.stderr.toString() };
}

/** A CA of the same name as the internal one, with another key (its PEM file): what an impostor would present. */
function makeOtherCa(): string {
  const base = join(cluster.dir, `other-ca-${crypto.randomUUID()}`);
  const mk = Bun.spawnSync(
    [
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=rter internal CA",
      "-keyout",
      `${base}.key`,
      "-out",
      `${base}.pem`,
    ],
    { stderr: "pipe" },
  );
  if (mk.exitCode !== 0) throw new Error(`openssl: ${mk.stderr.toString()}`);
  return `${base}.pem`;
}

/** The bundle's mc against one alias URL ("x"), trusting the internal CA; ok = exit 0 and no JSON error. */
function mcClient() {
  const config = mkdtempSync(join(tmpdir(), "rter-mc-"));
  mkdirSync(join(config, "certs/CAs"), { recursive: true });
  cpSync(join(cluster.dir, "pki/ca.crt"), join(config, "certs/CAs/ca.crt"));
  return (aliasUrl: string) =>
    (...args: string[]) => {
      const r = Bun.spawnSync([join(bundle.unpacked, "bin/mc"), "--config-dir", config, "--json", ...args], {
        env: { ...process.env, MC_HOST_x: aliasUrl },
        stdout: "pipe",
        stderr: "pipe",
        timeout: 30_000,
      });
      const out = r.stdout.toString() + r.stderr.toString();
      return { ok: r.exitCode === 0 && !/"status":\s*"error"/.test(out), out };
    };
}

function expectClean(run: PlaybookRun): void {
  if (run.code !== 0 || Object.values(run.recap).some((h) => h.failed || h.unreachable))
    throw new Error(`ansible-playbook failed (${run.code}):\n${tail(run, 80)}`);
}

// 15 min at most: a rolling upgrade or rollback under client load on a busy 2-core machine has
// taken up to ~8.5 min here; the tests' own limits are 20 min.
const playbook = (args: string[]) => ansiblePlaybook(["-i", cluster.inventory, ...args], {}, 900_000, bundle.ansibleDir);

/** Runs the CLI on a node exactly as an operator would: its installed binary and its config file. */
async function nodeCli(host: string, args: string[]): Promise<string> {
  const root = cluster.roots[host as keyof typeof cluster.roots];
  const p = Bun.spawn([`${root}/usr/local/bin/rter`, ...args, "--config", `${root}/etc/rter/rter.json`], { stdout: "pipe", stderr: "pipe", timeout: 60_000 });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`rter ${args.join(" ")} on ${host} exited ${code}: ${err}`);
  return out;
}

async function lbReady(timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const ok = await fetch(`${cluster.lbUrl}/readyz`, { tls: { rejectUnauthorized: false }, signal: AbortSignal.timeout(2_000) } as RequestInit).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    await Bun.sleep(200);
  }
  throw new Error("the load balancer has no ready node");
}

/** psql as postgres on db1's cluster (Debian's wrapper finds it through PG_CLUSTER_CONF_ROOT). */
function psql(query: string, db = "postgres"): string {
  const argv = [
    "setpriv",
    "--reuid=postgres",
    "--regid=postgres",
    "--init-groups",
    "--",
    "psql",
    "--cluster",
    `${PG_VERSION}/${PG_CLUSTER}`,
    "-d",
    db,
    "-XAtc",
    query,
  ];
  const p = Bun.spawnSync(argv, { cwd: "/", env: { ...process.env, ...cluster.pgEnv }, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`psql ${query}: ${p.stderr.toString()}`);
  return p.stdout.toString().trim();
}

/** Clients through the load balancer, without any retry of their own, until stop(). */
async function underLoad<T>(during: () => Promise<T>): Promise<{ result: T; ok: number; failed: string[] }> {
  const client = new LbClient(cluster.lbUrl, reporterToken, 0);
  const chunk = (await makeChunks("ts-h264-aac", 1, 1, "160x120"))[0]!;
  let stop = false;
  let ok = 0;
  const failed: string[] = [];
  const loop = async () => {
    while (!stop) {
      try {
        const c = await client.json("POST", "/api/v1/streams", {
          body: { title: "during rollout" },
          headers: { "idempotency-key": crypto.randomUUID() },
          retry: false,
        });
        if (c.status !== 201) throw new Error(`create ${c.status}`);
        const id = (c.body as { id: string }).id;
        const put = await client.req("PUT", `/api/v1/streams/${id}/chunks/0`, { body: chunk, headers: { "content-type": "video/mp2t" }, retry: false });
        if (put.status !== 201) throw new Error(`chunk ${put.status}`);
        await put.arrayBuffer();
        const get = await client.req("GET", `/api/v1/streams/${id}`, { retry: false });
        if (get.status !== 200) throw new Error(`get ${get.status}`);
        await get.arrayBuffer();
        ok += 3;
      } catch (e) {
        failed.push((e as Error).message);
      }
    }
  };
  const loops = [loop(), loop()];
  const result = await during();
  await Bun.sleep(1_000);
  stop = true;
  await Promise.all(loops);
  return { result, ok, failed };
}

beforeAll(async () => {
  if (!INNER) return;
  await dropTestPostgresCluster();
  [binary, nextBinary] = await Promise.all([process.env.RTER_DEPLOY_BINARY ?? buildBinary(), buildNext()]);
  bundle = await makeBundle(binary);
  cluster = await makeCluster({ bundleDir: bundle.unpacked, allowedSigners: bundle.allowedSigners });
}, 1_200_000);

afterAll(async () => {
  if (!INNER) return;
  await cluster?.supervisor.stopAll();
  cluster?.haproxyLog.stop();
  if (cluster && !process.env.RTER_DEPLOY_KEEP) rmSync(cluster.dir, { recursive: true, force: true });
  if (bundle && !process.env.RTER_DEPLOY_KEEP) rmSync(join(bundle.unpacked, "../.."), { recursive: true, force: true });
  if (nextBinary && !process.env.RTER_DEPLOY_KEEP) rmSync(dirname(nextBinary), { recursive: true, force: true });
}, 120_000);

// Outside the namespace only the wrapper above runs; nothing here is even listed as skipped.
(INNER ? describe : () => {})("deploy/ansible from a release bundle on seven local hosts, offline", () => {
  test("only loopback here: outbound connections are refused", async () => {
    const routes = Bun.spawnSync(["ip", "-o", "route", "show", "table", "all"])
      .stdout.toString()
      .split("\n")
      .filter((l) => l.trim() && !/\blo\b/.test(l));
    expect(routes).toEqual([]);
    // TEST-NET-1: with no route, connect fails at once (no timeout involved).
    const err = await fetch("http://192.0.2.1/", { signal: AbortSignal.timeout(5_000) }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).not.toBeNull();
  });

  test("the release bundle: signed archive, checksums of every file, SBOM of what it ships, pinned MinIO and mc", async () => {
    expect(verifySignature(bundle.allowedSigners, bundle.signature, bundle.archive)).toMatchObject({ code: 0 });
    expect(verifySignature(bundle.allowedSigners, join(bundle.unpacked, "SHA256SUMS.sig"), join(bundle.unpacked, "SHA256SUMS"))).toMatchObject({ code: 0 });
    const check = Bun.spawnSync(["sha256sum", "--check", "--strict", "SHA256SUMS"], { cwd: bundle.unpacked, stdout: "pipe", stderr: "pipe" });
    expect({ code: check.exitCode, err: check.stderr.toString() }).toEqual({ code: 0, err: "" });
    const listed = readFileSync(join(bundle.unpacked, "SHA256SUMS"), "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split("  ")[1]!);
    for (const f of [
      "bin/rter",
      "bin/minio",
      "bin/mc",
      "sbom.cdx.json",
      "release.json",
      "ansible/site.yml",
      "ansible/rollback.yml",
      "ansible/roles/rter/tasks/main.yml",
      "ansible/inventories/example/hosts.yml",
    ])
      expect(listed).toContain(f);
    expect(listed.some((f) => f.startsWith("ansible/files/"))).toBe(false);

    // A changed byte anywhere is caught: in a file (checksums) and in the signed list itself.
    const tampered = mkdtempSync(join(tmpdir(), "rter-tampered-"));
    cpSync(join(bundle.unpacked, "SHA256SUMS"), join(tampered, "SHA256SUMS"));
    cpSync(join(bundle.unpacked, "SHA256SUMS.sig"), join(tampered, "SHA256SUMS.sig"));
    mkdirSync(join(tampered, "ansible"));
    cpSync(join(bundle.unpacked, "ansible"), join(tampered, "ansible"), { recursive: true });
    writeFileSync(join(tampered, "ansible/site.yml"), readFileSync(join(tampered, "ansible/site.yml"), "utf8") + "# extra\n");
    const bad = Bun.spawnSync(["sha256sum", "--check", "--quiet", "--ignore-missing", "SHA256SUMS"], { cwd: tampered, stdout: "pipe", stderr: "pipe" });
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stdout.toString()).toContain("ansible/site.yml: FAILED");
    writeFileSync(
      join(tampered, "SHA256SUMS"),
      readFileSync(join(tampered, "SHA256SUMS"), "utf8").replace(/^[0-9a-f]/, (c) => (c === "0" ? "1" : "0")),
    );
    expect(verifySignature(bundle.allowedSigners, join(tampered, "SHA256SUMS.sig"), join(tampered, "SHA256SUMS")).code).not.toBe(0);
    rmSync(tampered, { recursive: true, force: true });

    // MinIO and mc are the pinned builds, and say so.
    const rel = JSON.parse(readFileSync(join(bundle.unpacked, "release.json"), "utf8"));
    const ensureTools = readFileSync(join(ROOT, "scripts/ensure-tools.sh"), "utf8");
    expect(ensureTools).toContain(rel.minio.split("@")[1]);
    for (const [bin, module] of [
      ["minio", rel.minio],
      ["mc", rel.mc],
    ] as const) {
      const info = Bun.spawnSync(["go", "version", "-m", join(bundle.unpacked, "bin", bin)]).stdout.toString();
      expect(info).toMatch(new RegExp(`\\tmod\\t${module.split("@")[0].replaceAll(".", "\\.")}\\t${module.split("@")[1]}`));
      expect(info).toContain("-trimpath=true");
      const v = Bun.spawnSync([join(bundle.unpacked, "bin", bin), "--version"]).stdout.toString();
      expect(v).toContain(module.split("@")[1].slice(-12));
    }

    // The SBOM: CycloneDX, the three binaries with the hashes of the shipped files, the npm
    // production closure from bun.lock (no dev tools), the Go modules linked into minio and mc.
    const sbom = JSON.parse(readFileSync(join(bundle.unpacked, "sbom.cdx.json"), "utf8"));
    expect({ bomFormat: sbom.bomFormat, specVersion: sbom.specVersion }).toEqual({ bomFormat: "CycloneDX", specVersion: "1.6" });
    const byRef = new Map<string, any>(sbom.components.map((c: any) => [c["bom-ref"], c]));
    for (const b of ["rter", "minio", "mc"])
      expect(byRef.get(`app:${b}`)?.hashes).toEqual([{ alg: "SHA-256", content: sha256(join(bundle.unpacked, "bin", b)) }]);
    const npmNames = sbom.components.filter((c: any) => c.purl?.startsWith("pkg:npm/")).map((c: any) => c.name);
    for (const dep of bundle.dependencies) expect(npmNames).toContain(dep);
    for (const dev of ["typescript", "playwright-core", "kysely-codegen", "bun-types"]) expect(npmNames).not.toContain(dev);
    for (const c of sbom.components.filter((c: any) => c.purl?.startsWith("pkg:npm/"))) expect(c.hashes?.[0]?.alg).toBe("SHA-512");
    const minioDeps = new Set(sbom.dependencies.find((d: any) => d.ref === "app:minio").dependsOn);
    const linked = Bun.spawnSync(["go", "version", "-m", join(bundle.unpacked, "bin/minio")])
      .stdout.toString()
      .split("\n")
      .filter((l) => l.trim().startsWith("dep\t"));
    expect(linked.length).toBeGreaterThan(50);
    expect(minioDeps.size).toBe(linked.length + 1);
    const refs = new Set(byRef.keys());
    for (const d of sbom.dependencies) for (const x of d.dependsOn) expect(refs.has(x) || x === d.ref).toBe(true);
    console.log(
      `bundle: ${(statSync(bundle.archive).size / 1e6).toFixed(0)} MB, ${listed.length} files, SBOM ${sbom.components.length} components (${npmNames.length} npm)`,
    );
  });

  test("site.yml from the bundle: empty hosts to a first login in one run; a second run changes nothing", async () => {
    // Debian's packaged 15/main has no checksums; the role turns them on.
    expect(
      Bun.spawnSync([`/usr/lib/postgresql/${PG_VERSION}/bin/pg_controldata`, join(cluster.roots.db1, `var/lib/postgresql/${PG_VERSION}/${PG_CLUSTER}`)], {
        env: { ...process.env, LC_ALL: "C" },
      }).stdout.toString(),
    ).toMatch(/Data page checksum version:\s+0\n/);
    const first = await playbook(["site.yml"]);
    expectClean(first);
    expect(Object.keys(first.recap).sort()).toEqual([...HOSTS].sort());
    for (const h of HOSTS) expect(first.recap[h]!.changed).toBeGreaterThan(0);
    expect(first.changedTasks.filter((t) => t.startsWith("db1:") && t.endsWith("Rewrite every page with its checksum"))).toHaveLength(1);
    expect(psql("show data_checksums")).toBe("on");
    expect(Bun.spawnSync(["pg_lsclusters", "-h"], { env: { ...process.env, ...cluster.pgEnv } }).stdout.toString()).toMatch(
      new RegExp(`^${PG_VERSION}\\s+${PG_CLUSTER}\\s+${cluster.ports.pg}\\s+online`, "m"),
    );
    // TLS inside, Postgres leg: every rter connection is encrypted, a plaintext one is refused,
    // and the server's certificate is the internal CA's (verify-full passes, another CA fails).
    expect(
      psql(
        "select count(*) filter (where s.ssl) || '/' || count(*) from pg_stat_activity a join pg_stat_ssl s using (pid) where a.usename = 'rter_app' and a.client_addr is not null",
      ),
    ).toMatch(/^([1-9]\d*)\/\1$/);
    const pgUrl = `postgres://rter:${cluster.secrets.pgPassword}@127.0.0.1:${cluster.ports.pg}/rter`;
    const tryPg = async (query: string) => {
      const c = new pg.Client({ connectionString: `${pgUrl}?${query}`, connectionTimeoutMillis: 10_000 });
      c.on("error", () => {});
      try {
        await c.connect();
        return (await c.query<{ ssl: boolean }>("select ssl from pg_stat_ssl where pid = pg_backend_pid()")).rows[0]!.ssl ? "tls" : "plain";
      } catch (e) {
        return (e as Error).message;
      } finally {
        await c.end().catch(() => {});
      }
    };
    expect(await tryPg("sslmode=disable")).toContain("no encryption");
    expect(await tryPg(`sslmode=verify-full&sslrootcert=${join(cluster.dir, "pki/ca.crt")}`)).toBe("tls");
    const otherCa = makeOtherCa();
    expect(await tryPg(`sslmode=verify-full&sslrootcert=${otherCa}`)).not.toBe("tls");
    // The run ended at the first login: the administrator signs in through the load balancer, and
    // (admins need a second factor by default) enrols TOTP on the way.
    const admin = { email: cluster.secrets.adminEmail, password: cluster.secrets.adminPassword };
    const login = await fetch(`${cluster.lbUrl}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(admin),
      tls: { rejectUnauthorized: false },
    } as RequestInit);
    expect(login.status).toBe(202);
    expect((await login.json()) as { user: { email: string }; enrolled: boolean }).toMatchObject({ user: { email: admin.email }, enrolled: false });
    const signed = await signIn(cluster.lbUrl, admin, { tls: { rejectUnauthorized: false } });
    expect(signed.recoveryCodes).toHaveLength(10);
    // Installed from the bundle, byte for byte.
    for (const h of [...API_HOSTS, ...WORKER_HOSTS])
      expect(sha256(join(cluster.roots[h], "usr/local/bin/rter"))).toBe(sha256(join(bundle.unpacked, "bin/rter")));
    expect(sha256(join(cluster.roots.minio1, "usr/local/bin/minio"))).toBe(sha256(join(bundle.unpacked, "bin/minio")));
    expect(sha256(join(cluster.roots.minio1, "usr/local/bin/mc"))).toBe(sha256(join(bundle.unpacked, "bin/mc")));

    // Credentials that cannot undo the evidence: the nodes hold rter's MinIO user and the runtime
    // database role only; MinIO's root secret and the owner role's password are on no rter node.
    for (const h of [...API_HOSTS, ...WORKER_HOSTS]) {
      for (const secret of [cluster.secrets.minioPassword, cluster.secrets.pgPassword]) {
        const found = Bun.spawnSync(["grep", "-rlF", "--exclude-dir=bin", secret, cluster.roots[h]], { stdout: "pipe" }).stdout.toString().trim();
        expect({ host: h, filesWithSecret: found }).toEqual({ host: h, filesWithSecret: "" });
      }
      const cfg = JSON.parse(readFileSync(join(cluster.roots[h], "etc/rter/rter.json"), "utf8"));
      expect(cfg["storage-url"]).toStartWith(`s3://rter-app:${cluster.secrets.minioRterSecret}@`);
      expect(cfg["storage-url"]).toContain("object_lock=true");
      expect(cfg["database-url"]).toStartWith("postgres://rter_app:");
      expect(cfg["database-owner-url"]).toBeUndefined();
    }
    const runtimePg = new pg.Client({
      connectionString: `postgres://rter_app:${cluster.secrets.pgRuntimePassword}@127.0.0.1:${cluster.ports.pg}/rter?sslmode=verify-full&sslrootcert=${join(cluster.dir, "pki/ca.crt")}`,
    });
    await runtimePg.connect();
    for (const q of ["truncate audit_log", "alter table audit_log disable trigger all", "update audit_log set hash = hash"]) {
      expect({
        q,
        err: await runtimePg.query(q).then(
          () => "ran",
          (e: Error) => e.message,
        ),
      }).toEqual({ q, err: expect.stringMatching(/permission denied|must be owner|append-only/i) });
    }
    await runtimePg.end();
    const mcAs = mcClient();
    const root = mcAs(`https://${cluster.secrets.minioUser}:${cluster.secrets.minioPassword}@127.0.0.1:${cluster.ports.minio}`);
    const app = mcAs(`https://rter-app:${cluster.secrets.minioRterSecret}@127.0.0.1:${cluster.ports.minio}`);
    expect(root("retention", "info", "--default", "x/rter-video").out).toMatch(/"enabled":\s*"Enabled"/);
    expect(JSON.parse(root("admin", "user", "info", "x", "rter-app").out)).toMatchObject({
      status: "success",
      policyName: "rter-rter-video",
      userStatus: "enabled",
    });
    expect(root("mb", "x/not-rters").ok).toBe(true);
    const probe = join(cluster.dir, "probe.txt");
    writeFileSync(probe, "probe");
    const allowed = { put: app("cp", probe, "x/rter-video/probe/one.txt").ok, read: app("cat", "x/rter-video/probe/one.txt").ok };
    const refused = {
      adminInfo: app("admin", "info", "x").ok,
      userList: app("admin", "user", "list", "x").ok,
      makeBucket: app("mb", "x/rter-other").ok,
      otherBucket: app("cp", probe, "x/not-rters/one.txt").ok,
      bucketLockOff: app("retention", "clear", "--default", "x/rter-video").ok,
      removeBucket: app("rb", "--force", "x/rter-video").ok,
    };
    console.log(`rter's MinIO user: allowed ${JSON.stringify(allowed)}, refused ${JSON.stringify(refused)}`);
    expect(allowed).toEqual({ put: true, read: true });
    expect(Object.values(refused).every((ok) => !ok)).toBe(true);
    expect(root("rm", "--versions", "--force", "--recursive", "x/rter-video/probe/").ok).toBe(true);

    const second = await playbook(["site.yml"]);
    expectClean(second);
    expect(second.changedTasks).toEqual([]);
    for (const h of HOSTS) expect({ host: h, changed: second.recap[h]!.changed }).toEqual({ host: h, changed: 0 });
    // Check mode on the configured fleet: what an operator runs before a change reports none.
    const check = await playbook(["site.yml", "--check", "--diff"]);
    expectClean(check);
    expect(check.changedTasks).toEqual([]);
    for (const h of HOSTS) expect({ host: h, changed: check.recap[h]!.changed }).toEqual({ host: h, changed: 0 });
    console.log(
      `site.yml: first run ${(first.ms / 1000).toFixed(0)} s, second run ${(second.ms / 1000).toFixed(0)} s, 0 changed; --check --diff ${(check.ms / 1000).toFixed(0)} s, 0 changed`,
    );
  }, 1_200_000);

  test("TLS inside: rter, MinIO (direct and through the load balancer) and Postgres refuse plaintext; rter and MinIO present the internal CA's certificates", async () => {
    const ca = readFileSync(join(cluster.dir, "pki/ca.crt"), "utf8");
    const otherCa = readFileSync(makeOtherCa(), "utf8");
    const https = (url: string, caPem: string) =>
      fetch(url, { tls: { ca: caPem }, signal: AbortSignal.timeout(10_000) } as RequestInit).then(
        (r) => `HTTP ${r.status}`,
        (e: Error) => `error: ${e.message}`,
      );
    const plain = (url: string) =>
      fetch(url, { signal: AbortSignal.timeout(10_000) }).then(
        (r) => `HTTP ${r.status}`,
        (e: Error) => `error: ${e.message}`,
      );
    const legs: Record<string, { tls: string; plain: string; otherCa: string }> = {};
    for (const h of [...API_HOSTS, ...WORKER_HOSTS]) {
      const port = cluster.ports.rter[h];
      legs[`rter ${h}`] = {
        tls: await https(`https://127.0.0.1:${port}/readyz`, ca),
        plain: await plain(`http://127.0.0.1:${port}/readyz`),
        otherCa: await https(`https://127.0.0.1:${port}/readyz`, otherCa),
      };
    }
    for (const [name, port] of [
      ["minio1", cluster.ports.minio],
      ["lb1 MinIO front", cluster.ports.lbMinio],
    ] as const) {
      legs[name] = {
        tls: await https(`https://127.0.0.1:${port}/minio/health/live`, ca),
        plain: await plain(`http://127.0.0.1:${port}/minio/health/live`),
        otherCa: await https(`https://127.0.0.1:${port}/minio/health/live`, otherCa),
      };
    }
    console.log(`TLS inside: ${JSON.stringify(legs)}`);
    for (const [name, leg] of Object.entries(legs)) {
      expect({ name, tls: leg.tls }).toEqual({ name, tls: "HTTP 200" });
      // rter (Bun) drops a plaintext request without an HTTP answer; MinIO answers it with a 400
      // "Client sent an HTTP request to an HTTPS server": no S3, no health, nothing stored.
      expect({ name, plain: leg.plain }).not.toEqual({ name, plain: "HTTP 200" });
      if (name.startsWith("rter")) expect({ name, plain: leg.plain.startsWith("error:") }).toEqual({ name, plain: true });
      expect({ name, otherCa: leg.otherCa.startsWith("error:") }).toEqual({ name, otherCa: true });
    }
    // The nodes run with the files the role installed, and rter's storage URL names the CA.
    for (const h of API_HOSTS) {
      const cfg = JSON.parse(readFileSync(join(cluster.roots[h], "etc/rter/rter.json"), "utf8"));
      expect({ cert: cfg["tls-cert"], key: cfg["tls-key"] }).toEqual({
        cert: join(cluster.roots[h], "etc/rter/tls.crt"),
        key: join(cluster.roots[h], "etc/rter/tls.key"),
      });
      expect(cfg["storage-url"]).toContain(`?ca=${join(cluster.roots[h], "etc/rter/internal-ca.pem")}`);
      expect(statSync(join(cluster.roots[h], "etc/rter/tls.key")).mode & 0o777).toBe(0o640);
    }
    expect(readFileSync(join(cluster.roots.minio1, "etc/default/minio"), "utf8")).toContain(`--certs-dir ${join(cluster.roots.minio1, "etc/minio/certs")}`);
    const haproxyCfg = readFileSync(join(cluster.roots.lb1, "etc/haproxy/haproxy.cfg"), "utf8");
    for (const h of API_HOSTS)
      expect(haproxyCfg).toContain(
        `server ${h} 127.0.0.1:${cluster.ports.rter[h]} check ssl verify required ca-file ${join(cluster.roots.lb1, "etc/haproxy/internal-ca.pem")} verifyhost ${h}`,
      );
    // Postgres: plaintext refused (checked above, after the first run) — the third internal port.
    const pgPlain = new pg.Client({
      connectionString: `postgres://rter:${cluster.secrets.pgPassword}@127.0.0.1:${cluster.ports.pg}/rter?sslmode=disable`,
      connectionTimeoutMillis: 10_000,
    });
    pgPlain.on("error", () => {});
    expect(
      await pgPlain.connect().then(
        () => "connected",
        (e: Error) => e.message,
      ),
    ).toContain("no encryption");
    await pgPlain.end().catch(() => {});
    // The edge certificate, with no city certificate given, comes from the internal CA for the public name.
    const edge = Bun.spawnSync(
      [
        "openssl",
        "verify",
        "-CAfile",
        join(cluster.dir, "pki/ca.crt"),
        "-verify_hostname",
        "rter.city.example",
        join(cluster.roots.lb1, "etc/haproxy/certs/rter.pem"),
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    expect({ code: edge.exitCode, out: edge.stdout.toString().trim() }).toEqual({
      code: 0,
      out: `${join(cluster.roots.lb1, "etc/haproxy/certs/rter.pem")}: OK`,
    });
  }, 120_000);

  test("HAProxy's access log lines reach the syslog socket in its chroot, carrying x-rter-performance, which the client never sees", async () => {
    const probe = crypto.randomUUID();
    const direct = await fetch(`https://127.0.0.1:${cluster.ports.rter.api1}/api/v1/auth/me?probe=${probe}-direct`, {
      tls: { ca: readFileSync(join(cluster.dir, "pki/ca.crt"), "utf8") },
    } as RequestInit);
    expect(direct.headers.get("x-rter-performance")).toMatch(/^total=\d+\.\dms/);
    const viaLb = await fetch(`${cluster.lbUrl}/api/v1/auth/me?probe=${probe}`, { tls: { rejectUnauthorized: false } } as RequestInit);
    expect(viaLb.status).toBe(401);
    expect(viaLb.headers.has("x-rter-performance")).toBe(false);
    let line: string | undefined;
    for (let i = 0; i < 100 && !line; i++) {
      line = readFileSync(cluster.haproxyLog.file, "utf8")
        .split("\n")
        .find((l) => l.includes(`probe=${probe} `));
      if (!line) await Bun.sleep(100);
    }
    console.log(`HAProxy access log line: ${line}`);
    expect(line).toBeDefined();
    expect(line).toMatch(
      /haproxy\[\d+\]: 127\.0\.0\.1:\d+ \[[^\]]+\] rter_https~ rter_api\/api[12] [\d/-]+ 401 \d+ - - ---- [\d/]+ [\d/]+ \{total=\d+\.\dms[^}]*\} "GET (https:\/\/[^/]+)?\/api\/v1\/auth\/me\?probe=/,
    );
  }, 60_000);

  test("the rendered units pass systemd-analyze verify, and what runs is exactly what they name", async () => {
    const units: string[] = [];
    for (const h of [...API_HOSTS, ...WORKER_HOSTS]) units.push(join(cluster.roots[h], "etc/systemd/system", RTER));
    units.push(join(cluster.roots.minio1, "etc/systemd/system/minio.service"));
    units.push(join(cluster.roots.db1, "etc/systemd/system/rter-pg-backup.service"), join(cluster.roots.db1, "etc/systemd/system/rter-pg-backup.timer"));
    for (const u of units) {
      expect(readFileSync(u, "utf8").split("\n").slice(0, 3).join("\n")).toContain("# Managed by Ansible");
      const v = Bun.spawnSync(["systemd-analyze", "verify", u], { stdout: "pipe", stderr: "pipe" });
      // verify prints problems of the unit itself and of units it pulls in (Requires= of the
      // Debian postgres instance, not installed here); only lines about our file fail the test.
      const own = v.stderr
        .toString()
        .split("\n")
        .filter((l) => l.includes(u.split("/").pop()!) && !/postgresql@/.test(l));
      expect({ unit: u, problems: own }).toEqual({ unit: u, problems: [] });
    }
    for (const u of units.filter((x) => x.endsWith(".service"))) {
      const s = Bun.spawnSync(["systemd-analyze", "security", "--offline=true", u], { stdout: "pipe", stderr: "pipe" });
      const level = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(s.stdout.toString())?.[1]);
      console.log(`systemd-analyze security ${u.split("/").slice(-4).join("/")}: ${level}`);
      expect(level).toBeLessThan(3);
    }

    for (const h of [...API_HOSTS, ...WORKER_HOSTS]) {
      const unit = cluster.supervisor.unitOf(h, RTER);
      const root = cluster.roots[h];
      expect(unit.execStart).toEqual([`${root}/usr/local/bin/rter`, "serve", "--config", `${root}/etc/rter/rter.json`]);
      expect(unit.user).toBe("rter");
      const pid = cluster.supervisor.pid(h, RTER)!;
      expect(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean)).toEqual(unit.execStart);
      expect(statSync(`/proc/${pid}`).uid).toBe(Number(Bun.spawnSync(["id", "-u", "rter"]).stdout.toString().trim()));
      const cfg = JSON.parse(readFileSync(`${root}/etc/rter/rter.json`, "utf8"));
      expect(cfg.roles).toBe(h.startsWith("api") ? "api,web" : "worker");
      expect(cfg.port).toBe(cluster.ports.rter[h]);
      expect(statSync(`${root}/etc/rter/rter.json`).mode & 0o777).toBe(0o640);
    }
    // HAProxy: Debian's unit plus the role's drop-in, checked together; it runs the rendered config.
    const merged = join(cluster.dir, "haproxy.service");
    await Bun.write(
      merged,
      readFileSync("/lib/systemd/system/haproxy.service", "utf8") +
        "\n" +
        readFileSync(join(cluster.roots.lb1, "etc/systemd/system/haproxy.service.d/rter.conf"), "utf8"),
    );
    expect(
      Bun.spawnSync(["systemd-analyze", "verify", merged], { stderr: "pipe" })
        .stderr.toString()
        .split("\n")
        .filter((l) => l.includes("haproxy.service:")),
    ).toEqual([]);
    expect(cluster.supervisor.unitOf("lb1", "haproxy.service").execStart).toContain(join(cluster.roots.lb1, "etc/haproxy/haproxy.cfg"));
    const cfg = readFileSync(join(cluster.roots.lb1, "etc/haproxy/haproxy.cfg"), "utf8");
    for (const h of API_HOSTS) expect(cfg).toContain(`server ${h} 127.0.0.1:${cluster.ports.rter[h]} check`);
    expect(cfg).not.toContain("worker1");
    // The firewall table was checked by `nft -c` when the role wrote it; its openings follow the groups.
    const nft = readFileSync(join(cluster.roots.db1, "etc/nftables.d/rter.nft"), "utf8");
    expect(nft).toContain(`tcp dport ${cluster.ports.pg} ip saddr { 127.0.0.1 } accept`);
  }, 120_000);

  test("a stream through the load balancer survives losing an API node and a worker mid-stream", async () => {
    await nodeCli("api1", ["users", "add", "--email", "reporter@city.example", "--role", "reporter", "--password", "a long reporter password"]);
    reporterToken = (await nodeCli("api2", ["tokens", "create", "--email", "reporter@city.example"])).trim().split("\n").at(-1)!;
    const client = new LbClient(cluster.lbUrl, reporterToken, 10_000);
    const chunks = await makeChunks("ts-h264-aac", 12, 1, "160x120");

    const created = await client.json("POST", "/api/v1/streams", { body: { title: "failover drill" }, headers: { "idempotency-key": crypto.randomUUID() } });
    expect(created.status).toBe(201);
    const id = (created.body as { id: string }).id;
    for (let seq = 0; seq < chunks.length; seq++) {
      if (seq === 5) {
        // Mid-stream: one API node and one worker die at once (SIGKILL, no drain).
        await Promise.all([cluster.supervisor.kill("api1", RTER), cluster.supervisor.kill("worker1", RTER)]);
      }
      const res = await client.req("PUT", `/api/v1/streams/${id}/chunks/${seq}`, { body: chunks[seq]!, headers: { "content-type": "video/mp2t" } });
      expect([200, 201]).toContain(res.status);
      await res.arrayBuffer();
      await Bun.sleep(250);
    }
    expect((await client.req("POST", `/api/v1/streams/${id}/finish`)).status).toBe(200);

    let s: any;
    const until = Date.now() + 90_000;
    for (;;) {
      s = (await client.json("GET", `/api/v1/streams/${id}`)).body;
      if (s.state === "finished" && s.segments + s.failed_chunks.length >= s.chunks) break;
      if (Date.now() > until) throw new Error(`stream did not settle: ${JSON.stringify(s)}`);
      await Bun.sleep(500);
    }
    expect({ chunks: s.chunks, segments: s.segments, failed: s.failed_chunks }).toEqual({ chunks: 12, segments: 12, failed: [] });

    // It plays: ffmpeg decodes the whole HLS playlist through the load balancer.
    const playlist = `${cluster.lbUrl}/api/v1/streams/${id}/hls/index.m3u8`;
    const list = await (await client.req("GET", `/api/v1/streams/${id}/hls/index.m3u8`)).text();
    expect(list).toContain("#EXT-X-ENDLIST");
    expect(list.match(/segments\/\d+\.ts/g)?.length).toBe(12);
    const p = Bun.spawn(["ffmpeg", "-v", "error", "-headers", `Authorization: Bearer ${reporterToken}\r\n`, "-i", playlist, "-f", "null", "-"], {
      stdout: "pipe",
      stderr: "pipe",
      timeout: 60_000,
    });
    const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    expect({ code, err }).toEqual({ code: 0, err: "" });

    console.log(
      `failover: ${client.requests} requests, ${client.retries} retries, longest client outage ${Math.round(client.maxOutageMs)} ms (budget 10000 ms), ${client.failures.length} failed`,
    );
    expect(client.failures).toEqual([]);
    expect(client.maxOutageMs).toBeLessThan(10_000);

    // Back to full strength for the upgrade.
    await cluster.supervisor.act("api1", "start", RTER);
    await cluster.supervisor.act("worker1", "start", RTER);
    for (const h of ["api1", "worker1"]) {
      const until2 = Date.now() + 60_000;
      while (
        !(await fetch(`https://127.0.0.1:${cluster.ports.rter[h]}/readyz`, {
          tls: { ca: readFileSync(join(cluster.dir, "pki/ca.crt"), "utf8") },
        } as RequestInit).then(
          (r) => r.status === 200,
          () => false,
        ))
      ) {
        if (Date.now() > until2) throw new Error(`${h} not ready again`);
        await Bun.sleep(200);
      }
    }
  }, 240_000);

  test("upgrade.yml rolls a release with a new migration, migrating once before the first node, while clients see no failed request", async () => {
    await lbReady();
    const before = Object.fromEntries([...API_HOSTS, ...WORKER_HOSTS].map((h) => [h, cluster.supervisor.pid(h, RTER)]));
    const actionsBefore = cluster.supervisor.actions.length;
    // The drill's next release is a bare binary, not a signed bundle: nothing to verify it against.
    const {
      result: run,
      ok,
      failed,
    } = await underLoad(() => playbook(["upgrade.yml", "-e", `rter_binary_src=${nextBinary}`, "-e", "rter_bundle_verify=false"]));
    expectClean(run);

    const want = sha256(nextBinary);
    for (const h of [...API_HOSTS, ...WORKER_HOSTS]) {
      const root = cluster.roots[h];
      const pid = cluster.supervisor.pid(h, RTER)!;
      expect(pid).not.toBe(before[h]);
      // The running process maps the new file (a replaced binary would show as "(deleted)").
      expect(await Bun.file(`/proc/${pid}/exe`).exists()).toBe(true);
      expect(sha256(`/proc/${pid}/exe`)).toBe(want);
      expect(sha256(`${root}/usr/local/bin/rter.previous`)).toBe(sha256(binary));
      expect(existsSync(`${root}/usr/local/bin/rter.new`)).toBe(false);
    }
    // The migration ran once, before any node was stopped.
    const applied = psql(`select extract(epoch from timestamp::timestamptz) * 1000 from kysely_migration where name = '${DRILL_MIGRATION}'`, "rter");
    const firstStop = cluster.supervisor.actionTimes[cluster.supervisor.actions.findIndex((a, i) => i >= actionsBefore && / stop rter\.service$/.test(a))]!;
    expect(Number(applied)).toBeLessThan(firstStop);
    expect(psql(`select expand_only from rter_meta.migration_compat where name = '${DRILL_MIGRATION}'`, "rter")).toBe("t");
    // One node at a time, API nodes drained in HAProxy first.
    const order = cluster.supervisor.actions.filter((a) => / (stop|start) rter\.service$/.test(a)).slice(-8);
    expect(order).toEqual([...API_HOSTS, ...WORKER_HOSTS].flatMap((h) => [`${h} stop rter.service`, `${h} start rter.service`]));
    console.log(
      `upgrade.yml: ${(run.ms / 1000).toFixed(0)} s, ${ok} requests succeeded, ${failed.length} failed${failed.length ? `: ${[...new Set(failed)].slice(0, 5).join("; ")}` : ""}`,
    );
    expect(ok).toBeGreaterThan(30);
    expect(failed).toEqual([]);

    const again = await playbook(["upgrade.yml", "-e", `rter_binary_src=${nextBinary}`, "-e", "rter_bundle_verify=false"]);
    expectClean(again);
    expect(again.changedTasks).toEqual([]);
  }, 1_200_000);

  test("rollback.yml puts the previous binary back on the migrated schema, one node at a time, with no failed request", async () => {
    await lbReady();
    const { result: run, ok, failed } = await underLoad(() => playbook(["rollback.yml"]));
    expectClean(run);
    for (const h of [...API_HOSTS, ...WORKER_HOSTS]) {
      const pid = cluster.supervisor.pid(h, RTER)!;
      expect(sha256(`/proc/${pid}/exe`)).toBe(sha256(binary));
      // The release rolled back from is kept, so upgrade.yml can roll forward again.
      expect(sha256(join(cluster.roots[h], "usr/local/bin/rter.previous"))).toBe(sha256(nextBinary));
      // It runs on the newer schema, knowingly.
      const sinceStart = readFileSync(join(cluster.dir, "supervisor/logs", `${h}-${RTER}.log`), "utf8")
        .split("\n--- start ")
        .at(-1)!;
      expect(sinceStart).toContain("database schema is ahead of this binary");
    }
    // Expand/contract: the newer migration stays; nothing was undone.
    expect(psql(`select count(*) from kysely_migration where name = '${DRILL_MIGRATION}'`, "rter")).toBe("1");
    expect(psql("select count(*) from information_schema.columns where table_name = 'streams' and column_name = 'drill_note'", "rter")).toBe("1");
    console.log(
      `rollback.yml: ${(run.ms / 1000).toFixed(0)} s, ${ok} requests succeeded, ${failed.length} failed${failed.length ? `: ${[...new Set(failed)].slice(0, 5).join("; ")}` : ""}`,
    );
    expect(ok).toBeGreaterThan(30);
    expect(failed).toEqual([]);
  }, 1_200_000);

  test("backup.yml writes a database dump that pg_restore reads", async () => {
    const fetchDir = join(cluster.dir, "fetched");
    const run = await playbook(["backup.yml", "-e", `backup_fetch_dir=${fetchDir}`]);
    expectClean(run);
    const dump = /"msg": "(\/\S+\.dump)"/.exec(run.output)?.[1];
    expect(dump).toBeDefined();
    expect(dump!.startsWith(join(cluster.roots.db1, "var/backups/rter-postgres/"))).toBe(true);
    const local = join(fetchDir, dump!.split("/").pop()!);
    const list = Bun.spawnSync([`/usr/lib/postgresql/${PG_VERSION}/bin/pg_restore`, "--list", local], { stdout: "pipe", stderr: "pipe" });
    expect(list.exitCode).toBe(0);
    expect(list.stdout.toString()).toContain("TABLE public streams");
  }, 120_000);
});
