import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../support/net.ts";
import { Supervisor } from "./supervisor.ts";

/** Debian cluster name the postgres role creates in the tests (next to the machine's own "main"). */
export const PG_CLUSTER = "rterdeploy";
export const PG_VERSION = 15;

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
  ports: { http: number; https: number; pg: number; minio: number; minioConsole: number; rter: Record<string, number> };
  secrets: { pgPassword: string; minioUser: string; minioPassword: string; adminEmail: string; adminPassword: string };
  lbUrl: string;
}

export async function makeCluster(opts: { binary: string; minioBinary: string }): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), "rter-deploy-"));
  // The services run as their own accounts (rter, minio-user, postgres): they must reach their prefix.
  chmodSync(dir, 0o755);
  const roots = Object.fromEntries(HOSTS.map((h) => [h, join(dir, h)])) as Record<Host, string>;
  for (const r of Object.values(roots)) {
    mkdirSync(r, { recursive: true });
    chmodSync(r, 0o755);
  }
  const supervisor = new Supervisor(roots, join(dir, "supervisor"));
  supervisor.listen();
  const rter: Record<string, number> = {};
  for (const h of [...API_HOSTS, ...WORKER_HOSTS]) rter[h] = await freePort();
  const ports = { http: await freePort(), https: await freePort(), pg: await freePort(), minio: await freePort(), minioConsole: await freePort(), rter };
  const hex = () => crypto.randomUUID().replaceAll("-", "");
  const secrets = { pgPassword: hex(), minioUser: `rter${hex().slice(0, 8)}`, minioPassword: hex(), adminEmail: "it-admin@city.example", adminPassword: hex() };

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
        postgres_rter_clients: ["127.0.0.1"],
        postgres_shared_buffers_mb: 32,
        postgres_effective_cache_size_mb: 128,
        postgres_maintenance_work_mem_mb: 32,
        postgres_settings: { fsync: "off", synchronous_commit: "off" },

        minio_binary_src: opts.minioBinary,
        minio_listen_address: "127.0.0.1",
        minio_port: ports.minio,
        minio_console_port: ports.minioConsole,
        minio_root_user: secrets.minioUser,
        minio_root_password: secrets.minioPassword,
        minio_bucket: "rter-video",
        minio_data_dirs: ["/srv/minio/data"],

        rter_binary_src: opts.binary,
        rter_public_url: lbUrl,
        rter_bind_host: "127.0.0.1",
        rter_advertise_address: "127.0.0.1",
        rter_database_url: `postgres://rter:${secrets.pgPassword}@127.0.0.1:${ports.pg}/rter`,
        rter_storage_url: `s3://${secrets.minioUser}:${secrets.minioPassword}@127.0.0.1:${ports.minio}/rter-video?tls=false`,
        rter_admin_email: secrets.adminEmail,
        rter_admin_password: secrets.adminPassword,
        rter_shutdown_grace_seconds: 10,
        // The upgrade drill drives thousands of requests a minute through one token on purpose;
        // HAProxy is the only proxy, so its X-Forwarded-For names the real client.
        rter_settings: { "rate-limit": "1000000/1m", "trusted-proxies": "127.0.0.1" },

        haproxy_bind_address: "127.0.0.1",
        haproxy_http_port: ports.http,
        haproxy_https_port: ports.https,
        haproxy_server_name: "rter.city.example",
        haproxy_log: "stdout format raw local0",
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
  return { dir, roots, inventory: inventoryPath, supervisor, ports, secrets, lbUrl };
}

/** Removes a test cluster left by an earlier, crashed run (config in /etc/postgresql, data in its prefix). */
export async function dropTestPostgresCluster(): Promise<void> {
  if (!existsSync(`/etc/postgresql/${PG_VERSION}/${PG_CLUSTER}`)) return;
  const p = Bun.spawn(["pg_dropcluster", "--stop", String(PG_VERSION), PG_CLUSTER], { stdout: "ignore", stderr: "pipe" });
  await p.exited;
  // pg_dropcluster gives up when the data directory (in a removed temp prefix) is already gone,
  // leaving the config directory; a later run's pg_createcluster would then be skipped.
  rmSync(`/etc/postgresql/${PG_VERSION}/${PG_CLUSTER}`, { recursive: true, force: true });
}
