/**
 * deploy/ansible applied for real: site.yml on seven "hosts" of this machine (inventory aliases
 * with ansible_connection=local, each with its own root prefix and ports on 127.0.0.1), a second
 * run that changes nothing, the rendered units checked by systemd-analyze, then HAProxy in front
 * of two API and two worker nodes: a stream survives losing one of each mid-stream, upgrade.yml
 * rolls a new binary with no failed request, and backup.yml dumps the database.
 *
 * systemd is not PID 1 here, so the roles run with `*_service_manager: command` and call a
 * systemctl stand-in (support/supervisor.ts) that starts exactly the ExecStart of the unit the
 * role rendered, as its User, with its environment. PostgreSQL is a real Debian cluster made by
 * the postgres role (named rterdeploy, beside the machine's own), MinIO the minio role's.
 *
 * RTER_DEPLOY_BINARY / RTER_DEPLOY_BINARY_NEXT: use these prebuilt binaries instead of building.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findMinioBinary } from "../support/minio.ts";
import { makeChunks } from "../support/media.ts";
import { buildBinary, ROOT } from "../support/rter-process.ts";
import { ansiblePlaybook, tail, type PlaybookRun } from "./support/ansible.ts";
import { LbClient } from "./support/client.ts";
import { API_HOSTS, dropTestPostgresCluster, HOSTS, makeCluster, PG_CLUSTER, PG_VERSION, WORKER_HOSTS, type TestCluster } from "./support/cluster.ts";

let cluster: TestCluster;
let binary: string;
let nextBinary: string;
let reporterToken = "";

const RTER = "rter.service";
const sha256 = (file: string) => new Bun.CryptoHasher("sha256").update(readFileSync(file)).digest("hex");

/** A second build of the same source, different bytes (no embedded source map): the "new release". */
async function buildNext(): Promise<string> {
  if (process.env.RTER_DEPLOY_BINARY_NEXT) return process.env.RTER_DEPLOY_BINARY_NEXT;
  const out = join(mkdtempSync(join(tmpdir(), "rter-bin-next-")), "rter");
  const p = Bun.spawn(["bun", "build", "--compile", "--minify", "cmd/rter.ts", "--outfile", out], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(`build failed: ${await new Response(p.stderr).text()}`);
  return out;
}

function expectClean(run: PlaybookRun): void {
  if (run.code !== 0 || Object.values(run.recap).some((h) => h.failed || h.unreachable)) throw new Error(`ansible-playbook failed (${run.code}):\n${tail(run, 80)}`);
}

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
    const ok = await fetch(`${cluster.lbUrl}/readyz`, { tls: { rejectUnauthorized: false }, signal: AbortSignal.timeout(2_000) } as RequestInit).then((r) => r.status === 200, () => false);
    if (ok) return;
    await Bun.sleep(200);
  }
  throw new Error("the load balancer has no ready node");
}

beforeAll(async () => {
  await dropTestPostgresCluster();
  [binary, nextBinary] = await Promise.all([process.env.RTER_DEPLOY_BINARY ?? buildBinary(), buildNext()]);
  cluster = await makeCluster({ binary, minioBinary: findMinioBinary() });
}, 240_000);

afterAll(async () => {
  await cluster?.supervisor.stopAll();
  await dropTestPostgresCluster();
  if (cluster && !process.env.RTER_DEPLOY_KEEP) rmSync(cluster.dir, { recursive: true, force: true });
}, 120_000);

describe("deploy/ansible on seven local hosts", () => {
  test("site.yml rolls out everything; a second run changes nothing", async () => {
    const first = await ansiblePlaybook(["-i", cluster.inventory, "site.yml"]);
    expectClean(first);
    expect(Object.keys(first.recap).sort()).toEqual([...HOSTS].sort());
    for (const h of HOSTS) expect(first.recap[h]!.changed).toBeGreaterThan(0);
    await lbReady();

    const second = await ansiblePlaybook(["-i", cluster.inventory, "site.yml"]);
    expectClean(second);
    expect(second.changedTasks).toEqual([]);
    for (const h of HOSTS) expect({ host: h, changed: second.recap[h]!.changed }).toEqual({ host: h, changed: 0 });
    console.log(`site.yml: first run ${(first.ms / 1000).toFixed(0)} s, second run ${(second.ms / 1000).toFixed(0)} s, 0 changed`);
  }, 1_200_000);

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
      const own = v.stderr.toString().split("\n").filter((l) => l.includes(u.split("/").pop()!) && !/postgresql@/.test(l));
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
    await Bun.write(merged, readFileSync("/lib/systemd/system/haproxy.service", "utf8") + "\n" + readFileSync(join(cluster.roots.lb1, "etc/systemd/system/haproxy.service.d/rter.conf"), "utf8"));
    expect(Bun.spawnSync(["systemd-analyze", "verify", merged], { stderr: "pipe" }).stderr.toString().split("\n").filter((l) => l.includes("haproxy.service:"))).toEqual([]);
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
    const p = Bun.spawn(["ffmpeg", "-v", "error", "-headers", `Authorization: Bearer ${reporterToken}\r\n`, "-i", playlist, "-f", "null", "-"], { stdout: "pipe", stderr: "pipe", timeout: 60_000 });
    const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    expect({ code, err }).toEqual({ code: 0, err: "" });

    console.log(`failover: ${client.requests} requests, ${client.retries} retries, longest client outage ${Math.round(client.maxOutageMs)} ms (budget 10000 ms), ${client.failures.length} failed`);
    expect(client.failures).toEqual([]);
    expect(client.maxOutageMs).toBeLessThan(10_000);

    // Back to full strength for the upgrade.
    await cluster.supervisor.act("api1", "start", RTER);
    await cluster.supervisor.act("worker1", "start", RTER);
    for (const h of ["api1", "worker1"]) {
      const until2 = Date.now() + 60_000;
      while (!(await fetch(`http://127.0.0.1:${cluster.ports.rter[h]}/readyz`).then((r) => r.status === 200, () => false))) {
        if (Date.now() > until2) throw new Error(`${h} not ready again`);
        await Bun.sleep(200);
      }
    }
  }, 240_000);

  test("upgrade.yml replaces the binary on every node while clients see no failed request", async () => {
    await lbReady();
    const before = Object.fromEntries([...API_HOSTS, ...WORKER_HOSTS].map((h) => [h, cluster.supervisor.pid(h, RTER)]));
    // Clients through the load balancer during the whole rollout, without any retry of their own.
    const client = new LbClient(cluster.lbUrl, reporterToken, 0);
    const chunk = (await makeChunks("ts-h264-aac", 1, 1, "160x120"))[0]!;
    let stop = false;
    let ok = 0;
    const failed: string[] = [];
    const loop = async () => {
      while (!stop) {
        try {
          const c = await client.json("POST", "/api/v1/streams", { body: { title: "during upgrade" }, headers: { "idempotency-key": crypto.randomUUID() }, retry: false });
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
    const run = await ansiblePlaybook(["-i", cluster.inventory, "upgrade.yml", "-e", `rter_binary_src=${nextBinary}`]);
    await Bun.sleep(1_000);
    stop = true;
    await Promise.all(loops);
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
    // One node at a time, API nodes drained in HAProxy first.
    const order = cluster.supervisor.actions.filter((a) => / (stop|start) rter\.service$/.test(a)).slice(-8);
    expect(order).toEqual([...API_HOSTS, ...WORKER_HOSTS].flatMap((h) => [`${h} stop rter.service`, `${h} start rter.service`]));
    console.log(`upgrade.yml: ${(run.ms / 1000).toFixed(0)} s, ${ok} requests succeeded, ${failed.length} failed${failed.length ? `: ${[...new Set(failed)].slice(0, 5).join("; ")}` : ""}`);
    expect(ok).toBeGreaterThan(30);
    expect(failed).toEqual([]);

    const again = await ansiblePlaybook(["-i", cluster.inventory, "upgrade.yml", "-e", `rter_binary_src=${nextBinary}`]);
    expectClean(again);
    expect(again.changedTasks).toEqual([]);
  }, 1_200_000);

  test("backup.yml writes a database dump that pg_restore reads", async () => {
    const fetchDir = join(cluster.dir, "fetched");
    const run = await ansiblePlaybook(["-i", cluster.inventory, "backup.yml", "-e", `backup_fetch_dir=${fetchDir}`]);
    expectClean(run);
    const dump = /"msg": "(\/\S+\.dump)"/.exec(run.output)?.[1];
    expect(dump).toBeDefined();
    expect(dump!.startsWith(join(cluster.roots.db1, "var/backups/rter-postgres/"))).toBe(true);
    const local = join(fetchDir, dump!.split("/").pop()!);
    const list = Bun.spawnSync([`/usr/lib/postgresql/${PG_VERSION}/bin/pg_restore`, "--list", local], { stdout: "pipe", stderr: "pipe" });
    expect(list.exitCode).toBe(0);
    expect(list.stdout.toString()).toContain("TABLE public streams");
    // The cluster the role made is a Debian cluster like any other.
    expect(Bun.spawnSync(["pg_lsclusters", "-h"]).stdout.toString()).toMatch(new RegExp(`^${PG_VERSION}\\s+${PG_CLUSTER}\\s+${cluster.ports.pg}\\s+online`, "m"));
  }, 120_000);
});
