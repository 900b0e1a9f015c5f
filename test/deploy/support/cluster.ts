import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../support/net.ts";
import { Supervisor } from "./supervisor.ts";

/**
 * The cluster a Debian host has once postgresql-15 is installed: 15/main, made by the package
 * without data checksums. The test makes it the same way under db1's prefix (its own
 * PG_CLUSTER_CONF_ROOT, so the machine's own 15/main is another cluster) before the role runs.
 */
export const PG_CLUSTER = "main";
export const PG_VERSION = 15;
/** The name earlier versions of these tests used, next to the machine's own main. */
const LEGACY_PG_CLUSTER = "rterdeploy";

export const API_HOSTS = ["api1", "api2"] as const;
export const WORKER_HOSTS = ["worker1", "worker2"] as const;
export const HOSTS = ["lb1", "db1", "minio1", ...API_HOSTS, ...WORKER_HOSTS] as const;
export type Host = (typeof HOSTS)[number];

/**
 * Seven "hosts" on this machine for the playbooks: each an inventory alias with
 * ansible_connection=local, its own root prefix under one temp dir, its own ports on 127.0.0.1,
 * and a systemctl stand-in (the Supervisor) as its service command.
 */
export interface TestCluster {
  dir: string;
  roots: Record<Host, string>;
  inventory: string;
  supervisor: Supervisor;
  ports: { http: number; https: number; pg: number; minio: number; minioConsole: number; lbMinio: number; rter: Record<string, number> };
  /** PG_CLUSTER_CONF_ROOT of db1: Debian's tools see its clusters only with it. */
  pgEnv: Record<string, string>;
  secrets: {
    pgPassword: string;
    pgRuntimePassword: string;
    minioUser: string;
    minioPassword: string;
    minioRterSecret: string;
    adminEmail: string;
    adminPassword: string;
  };
  lbUrl: string;
  /**
   * What HAProxy sends to the syslog socket in its chroot (/dev/log there): on a server the role
   * binds journald's socket to that path; here a datagram socket (socat) stands in for journald.
   */
  haproxyLog: { file: string; stop(): void };
}

/**
 * bundleDir: an unpacked release bundle; the binaries come from its bin/. allowedSigners: the
 * release key it was signed with (the playbooks verify the bundle with it before touching a host);
 * without one (a directory of binaries shaped like a bundle, unsigned) the check is turned off.
 */
export async function makeCluster(opts: { bundleDir: string; allowedSigners?: string }): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), "rter-deploy-"));
  // The services run as their own accounts (rter, minio-user, postgres): they must reach their prefix.
  chmodSync(dir, 0o755);
  const roots = Object.fromEntries(HOSTS.map((h) => [h, join(dir, h)])) as Record<Host, string>;
  for (const r of Object.values(roots)) {
    mkdirSync(r, { recursive: true });
    chmodSync(r, 0o755);
  }
  const pgEnv = { PG_CLUSTER_CONF_ROOT: join(roots.db1, "etc/postgresql") };
  const supervisor = new Supervisor(roots, join(dir, "supervisor"), { db1: pgEnv });
  supervisor.listen();
  const rter: Record<string, number> = {};
  for (const h of [...API_HOSTS, ...WORKER_HOSTS]) rter[h] = await freePort();
  const ports = {
    http: await freePort(),
    https: await freePort(),
    pg: await freePort(),
    minio: await freePort(),
    minioConsole: await freePort(),
    lbMinio: await freePort(),
    rter,
  };
  await debianPackagedCluster(roots.db1, pgEnv, ports.pg);
  // Started by "systemd", as the package's postinst leaves it.
  await supervisor.act("db1", "start", `postgresql@${PG_VERSION}-${PG_CLUSTER}.service`);
  const hex = () => crypto.randomUUID().replaceAll("-", "");
  const secrets = {
    pgPassword: hex(),
    pgRuntimePassword: hex(),
    minioUser: `rter${hex().slice(0, 8)}`,
    minioPassword: hex(),
    minioRterSecret: hex(),
    adminEmail: "it-admin@city.example",
    adminPassword: hex(),
  };

  const host = (h: Host, extra: Record<string, unknown> = {}) => {
    const hook = supervisor.hook(h);
    return {
      common_root: roots[h],
      rter_root: roots[h],
      haproxy_root: roots[h],
      minio_root: roots[h],
      postgres_root: roots[h],
      rter_service_command: hook,
      haproxy_service_command: hook,
      minio_service_command: hook,
      postgres_service_command: hook,
      ...extra,
    };
  };
  const lbUrl = `https://127.0.0.1:${ports.https}`;
  const inventory = {
    all: {
      vars: {
        ansible_connection: "local",
        ansible_host: "127.0.0.1",
        ansible_python_interpreter: "/usr/bin/python3",
        // No sudo on the test machine; su from root needs no password.
        ansible_become_method: "su",
        rter_service_manager: "command",
        haproxy_service_manager: "command",
        minio_service_manager: "command",
        postgres_service_manager: "command",
        // Render and check the nftables table, never load it into this machine's kernel.
        common_firewall_apply: false,
        common_firewall_ssh_sources: ["127.0.0.0/8"],
        // nftables comes from scripts/ensure-tools.sh --deploy; seven apt runs on one machine only cost time.
        common_packages: [],

        postgres_cluster: PG_CLUSTER,
        postgres_version: PG_VERSION,
        postgres_port: ports.pg,
        postgres_listen_addresses: "127.0.0.1",
        postgres_rter_password: secrets.pgPassword,
        postgres_rter_runtime_password: secrets.pgRuntimePassword,
        postgres_rter_clients: ["127.0.0.1"],
        postgres_shared_buffers_mb: 32,
        postgres_effective_cache_size_mb: 128,
        postgres_maintenance_work_mem_mb: 32,
        postgres_settings: { fsync: "off", synchronous_commit: "off" },

        ...(opts.allowedSigners ? { rter_bundle_allowed_signers: opts.allowedSigners } : { rter_bundle_verify: false }),
        minio_binary_src: join(opts.bundleDir, "bin/minio"),
        minio_mc_binary_src: join(opts.bundleDir, "bin/mc"),
        minio_listen_address: "127.0.0.1",
        minio_port: ports.minio,
        minio_console_port: ports.minioConsole,
        minio_root_user: secrets.minioUser,
        minio_root_password: secrets.minioPassword,
        minio_bucket: "rter-video",
        // As in the example inventory: rter's own user, limited to the bucket (made with the bundle's mc).
        minio_rter_secret_key: secrets.minioRterSecret,
        minio_data_dirs: ["/srv/minio/data"],

        rter_binary_src: join(opts.bundleDir, "bin/rter"),
        rter_public_url: lbUrl,
        rter_bind_host: "127.0.0.1",
        rter_advertise_address: "127.0.0.1",
        // TLS only, verified against the internal CA the postgres role makes (each node's copy under its prefix).
        // As in the example inventory: the nodes run as the runtime role; the owner only migrates.
        rter_database_url: `postgres://rter_app:${secrets.pgRuntimePassword}@127.0.0.1:${ports.pg}/rter?sslmode=verify-full&sslrootcert={{ rter_root }}/etc/rter/internal-ca.pem`,
        rter_database_owner_url: `postgres://rter:${secrets.pgPassword}@127.0.0.1:${ports.pg}/rter?sslmode=verify-full&sslrootcert={{ rter_root }}/etc/rter/internal-ca.pem`,
        postgres_tls_pki_dir: join(dir, "pki"),
        rter_tls_ca_src: join(dir, "pki/ca.crt"),
        // As in the example inventory: storage through the load balancer's internal MinIO front,
        // so the rter nodes' readiness needs HAProxy up first.
        // TLS passes through HAProxy's TCP front; rter checks MinIO's certificate against the internal CA.
        rter_storage_url: `s3://rter-app:${secrets.minioRterSecret}@127.0.0.1:${ports.lbMinio}/rter-video?ca={{ rter_root }}/etc/rter/internal-ca.pem&object_lock=true`,
        rter_admin_email: secrets.adminEmail,
        rter_admin_password: secrets.adminPassword,
        rter_shutdown_grace_seconds: 10,
        // The upgrade and rollback drills drive thousands of requests a minute through one token on purpose;
        // HAProxy is the only proxy, so its X-Forwarded-For names the real client.
        // Same for the per-user limit and the reporter's item quota (thousands of streams an hour).
        rter_settings: { "rate-limit": "1000000/1m", "rate-limit-user": "1000000/1m", "quota-items": "off", "trusted-proxies": "127.0.0.1" },

        haproxy_bind_address: "127.0.0.1",
        haproxy_http_port: ports.http,
        haproxy_https_port: ports.https,
        haproxy_server_name: "rter.city.example",
        haproxy_minio_port: ports.lbMinio,
      },
      children: {
        lb: { hosts: { lb1: host("lb1") } },
        postgres: { hosts: { db1: host("db1") } },
        minio: { hosts: { minio1: host("minio1") } },
        rter: {
          children: {
            rter_api: { hosts: Object.fromEntries(API_HOSTS.map((h) => [h, host(h, { rter_port: rter[h] })])) },
            rter_worker: { hosts: Object.fromEntries(WORKER_HOSTS.map((h) => [h, host(h, { rter_port: rter[h] })])) },
          },
        },
      },
    },
  };
  const inventoryPath = join(dir, "hosts.yml");
  // JSON is YAML.
  writeFileSync(inventoryPath, JSON.stringify(inventory, null, 2));
  return {
    dir,
    roots,
    inventory: inventoryPath,
    supervisor,
    ports,
    secrets,
    lbUrl,
    pgEnv,
    haproxyLog: syslogSocket(join(roots.lb1, "var/lib/haproxy/dev/log"), join(dir, "haproxy-syslog.log")),
  };
}

/**
 * A syslog datagram socket at path (writable by HAProxy's user) whose messages land in file, one
 * a line; python3 because Bun has no Unix datagram sockets (and ansible brings python3 anyway).
 */
export function syslogSocket(path: string, file: string): TestCluster["haproxyLog"] {
  mkdirSync(join(path, ".."), { recursive: true });
  rmSync(path, { force: true });
  writeFileSync(file, "");
  const receiver = `import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
with open(sys.argv[2], "ab", 0) as f:
    while True:
        f.write(s.recv(65536).rstrip(b"\\n") + b"\\n")
`;
  const p = Bun.spawn(["python3", "-c", receiver, path, file], { stdout: "ignore", stderr: "pipe" });
  for (let i = 0; i < 100 && !existsSync(path); i++) {
    if (p.exitCode !== null) break;
    Bun.sleepSync(50);
  }
  if (!existsSync(path)) throw new Error(`the syslog stand-in did not bind ${path}`);
  return { file, stop: () => p.kill() };
}

/** What Debian's postgresql-15 postinst does: pg_createcluster 15 main, no checksums. */
async function debianPackagedCluster(root: string, env: Record<string, string>, port: number): Promise<void> {
  const pgUid = Number(Bun.spawnSync(["id", "-u", "postgres"]).stdout.toString().trim());
  const pgGid = Number(Bun.spawnSync(["id", "-g", "postgres"]).stdout.toString().trim());
  for (const d of ["etc/postgresql", "var/lib/postgresql", "run/postgresql", "var/log/postgresql"]) {
    mkdirSync(join(root, d), { recursive: true });
    if (d !== "etc/postgresql") chownSync(join(root, d), pgUid, pgGid);
  }
  const p = Bun.spawn(
    [
      "pg_createcluster",
      String(PG_VERSION),
      PG_CLUSTER,
      `--port=${port}`,
      `--datadir=${join(root, "var/lib/postgresql", String(PG_VERSION), PG_CLUSTER)}`,
      `--logfile=${join(root, "var/log/postgresql", `postgresql-${PG_VERSION}-${PG_CLUSTER}.log`)}`,
      // The machine's own 15/main writes /var/run/postgresql/15-main.pid; this one must not.
      `--pgoption=external_pid_file=${join(root, "run/postgresql", `${PG_VERSION}-${PG_CLUSTER}.pid`)}`,
    ],
    { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" },
  );
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`pg_createcluster failed: ${err}`);
}

/**
 * Removes the cluster earlier versions of these tests left in /etc/postgresql (rterdeploy). Today's
 * cluster lives entirely in the run's temp dir and is stopped by the supervisor at the end.
 */
export async function dropTestPostgresCluster(): Promise<void> {
  if (!existsSync(`/etc/postgresql/${PG_VERSION}/${LEGACY_PG_CLUSTER}`)) return;
  const p = Bun.spawn(["pg_dropcluster", "--stop", String(PG_VERSION), LEGACY_PG_CLUSTER], { stdout: "ignore", stderr: "pipe" });
  await p.exited;
  // pg_dropcluster gives up when the data directory (in a removed temp prefix) is already gone,
  // leaving the config directory.
  rmSync(`/etc/postgresql/${PG_VERSION}/${LEGACY_PG_CLUSTER}`, { recursive: true, force: true });
}
