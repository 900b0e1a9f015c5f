/**
 * The restore drill: deploy/ansible applied for real (site.yml, restore.yml) on five local "hosts"
 * (lb1, db1, minio1, api1, worker1: aliases with ansible_connection=local, each its own prefix and
 * ports, services run by the systemctl stand-in of support/supervisor.ts), with a second site: a
 * MinIO over TLS (its own CA, as another organisation's would be) holding the pgBackRest
 * repository and the mirror of the video bucket.
 *
 * Streams and chunks go in through the load balancer and the real API; an incremental backup is
 * taken between them; the time T is noted; more is written after T and mirrored (a tick of the
 * mirror's timer is one start of its oneshot service here); then the primary's data
 * directory and MinIO's data disk are deleted. restore.yml brings the database back to T and the
 * video back from the mirror, and then `rter verify storage` reads every object against the
 * database and the audit chain, `rter audit verify --head` checks the chain against the head
 * noted at T, and what was written after T is gone. The time to restore (RTO), the WAL not yet
 * archived when the primary was lost (RPO) and a mirror pass's duration are printed, not asserted.
 *
 * Runs in its own network namespace (loopback only) and mount namespace (a private
 * /run/postgresql), like rollout.test.ts. RTER_DEPLOY_BINARY: a prebuilt rter binary.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { goBinaries } from "../../scripts/release.ts";
import { makeChunks } from "../support/media.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { buildBinary, ROOT } from "../support/rter-process.ts";
import { makeTestCa } from "../support/tls.ts";
import { ansiblePlaybook, tail, type PlaybookRun } from "./support/ansible.ts";
import { LbClient } from "./support/client.ts";
import { insideNamespaces } from "./support/netns.ts";
import { makeCluster, PG_CLUSTER, PG_VERSION, type TestCluster } from "./support/cluster.ts";

/** Short, so the drill waits seconds for T to be archived; the role's default is 60 s. */
const ARCHIVE_TIMEOUT_S = 15;
const MIRROR_UNIT = "rter-object-mirror.service";
const PG_UNIT = `postgresql@${PG_VERSION}-${PG_CLUSTER}.service`;
const STANZA = "rter";
const PGBR_BUCKET = "rter-pgbackrest";
const COPY_BUCKET = "rter-video-copy";

const INNER = insideNamespaces({
  file: import.meta.path,
  inner: "inner-restore",
  describe: "deploy/ansible restore drill",
  test: "the restore drill passes inside a network namespace with only loopback",
  tmpfs: "rter-restore-pg",
  innerTimeoutMs: 1_800_000,
});

let cluster: TestCluster;
let site2: TestMinio;
let mcBin = "";
let mcDir = "";
let bundleDir = "";
let ansibleDir = "";
let reporterToken = "";

function expectClean(run: PlaybookRun): void {
  if (run.code !== 0 || Object.values(run.recap).some((h) => h.failed || h.unreachable))
    throw new Error(`ansible-playbook failed (${run.code}):\n${tail(run, 80)}`);
}

const playbook = (args: string[]) => ansiblePlaybook(["-i", cluster.inventory, ...args], {}, 900_000, ansibleDir);

/** Async on purpose: the supervisor serving the services' output lives in this process. */
async function run(argv: string[], opts: { user?: string; env?: Record<string, string> } = {}): Promise<{ code: number; out: string; err: string }> {
  const full = opts.user ? ["setpriv", `--reuid=${opts.user}`, `--regid=${opts.user}`, "--init-groups", "--", ...argv] : argv;
  const p = Bun.spawn(full, { cwd: "/", env: { ...process.env, ...opts.env }, stdout: "pipe", stderr: "pipe", timeout: 300_000 });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

/** psql as postgres on db1's cluster. */
async function psql(query: string, db = "rter"): Promise<string> {
  const r = await run(["psql", "--cluster", `${PG_VERSION}/${PG_CLUSTER}`, "-d", db, "-XAtc", query], { user: "postgres", env: cluster.pgEnv });
  if (r.code !== 0) throw new Error(`psql ${query}: ${r.err}`);
  return r.out.trim();
}

/** pgBackRest on db1 with the configuration the role wrote. */
function pgbackrest(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return run(["/usr/bin/pgbackrest", `--config=${join(cluster.roots.db1, "etc/pgbackrest/pgbackrest.conf")}`, `--stanza=${STANZA}`, ...args], {
    user: "postgres",
  });
}

/** mc against the second site, as an operator there would use it. */
async function mc(args: string[]): Promise<string> {
  const r = await run([mcBin, `--config-dir=${mcDir}`, "--quiet", ...args], {
    env: { MC_HOST_site2: `https://${site2.accessKey}:${site2.secretKey}@localhost:${site2.port}` },
  });
  if (r.code !== 0) throw new Error(`mc ${args.join(" ")}: ${r.out}${r.err}`);
  return r.out;
}

const copiedKeys = async () =>
  new Set(
    (await mc(["ls", "--recursive", "--json", `site2/${COPY_BUCKET}`]))
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l).key as string),
  );

/** Runs the CLI on a node exactly as an operator would: its installed binary and its config file. */
function nodeCli(host: "api1" | "worker1", args: string[]): Promise<{ code: number; out: string; err: string }> {
  const root = cluster.roots[host];
  return run([`${root}/usr/local/bin/rter`, ...args, "--config", `${root}/etc/rter/rter.json`]);
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | null | Promise<T | null>): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(250);
  }
}

beforeAll(async () => {
  if (!INNER) return;
  const [binary, go] = await Promise.all([process.env.RTER_DEPLOY_BINARY ?? buildBinary(), goBinaries()]);
  mcBin = go.mc;
  // The "bundle": the binaries the playbooks install, where the example inventory looks for them.
  bundleDir = mkdtempSync(join(tmpdir(), "rter-restore-bundle-"));
  mkdirSync(join(bundleDir, "bin"));
  for (const [name, src] of [
    ["rter", binary],
    ["minio", go.minio],
    ["mc", go.mc],
  ] as const)
    symlinkSync(src, join(bundleDir, "bin", name));
  // The playbooks as they are now: other work on this checkout must not change them mid-drill.
  ansibleDir = join(bundleDir, "ansible");
  cpSync(join(ROOT, "deploy/ansible"), ansibleDir, {
    recursive: true,
    filter: (p) => !/\/(inventories\/(?!example)[^/]+|files)(\/|$)/.test(p.slice(ROOT.length)),
  });
  cluster = await makeCluster({ bundleDir });

  // The second site: MinIO over TLS with a certificate from its own CA, for the host name
  // "localhost" (pgBackRest matches DNS names only).
  const ca = makeTestCa("second site CA");
  const cert = ca.issue("site2", ["DNS:localhost", "IP:127.0.0.1"]);
  process.env.RTER_MINIO_BIN = go.minio;
  site2 = await startMinio({ tls: { ...cert, caFile: ca.caFile } });
  mcDir = mkdtempSync(join(tmpdir(), "rter-restore-mc-"));
  mkdirSync(join(mcDir, "certs/CAs"), { recursive: true });
  copyFileSync(ca.caFile, join(mcDir, "certs/CAs/site2.crt"));
  await mc(["mb", `site2/${PGBR_BUCKET}`]);
  // The copy keeps the legal holds rter puts on its objects: its bucket has object lock too.
  await mc(["mb", "--with-lock", `site2/${COPY_BUCKET}`]);

  // Five hosts are enough for the drill; PITR to the second site and the mirror switched on.
  const inv = JSON.parse(readFileSync(cluster.inventory, "utf8"));
  const children = inv.all.children;
  delete children.rter.children.rter_api.hosts.api2;
  delete children.rter.children.rter_worker.hosts.worker2;
  Object.assign(inv.all.vars, {
    postgres_pgbackrest_repo: "s3",
    postgres_pgbackrest_s3_endpoint: "localhost",
    postgres_pgbackrest_s3_port: site2.port,
    postgres_pgbackrest_s3_bucket: PGBR_BUCKET,
    postgres_pgbackrest_s3_key: site2.accessKey,
    postgres_pgbackrest_s3_key_secret: site2.secretKey,
    postgres_pgbackrest_s3_ca_src: ca.caFile,
    postgres_pgbackrest_cipher_pass: crypto.randomUUID().replaceAll("-", ""),
    postgres_archive_timeout: ARCHIVE_TIMEOUT_S,
    minio_mirror_target_url: `https://localhost:${site2.port}`,
    minio_mirror_target_bucket: COPY_BUCKET,
    minio_mirror_target_access_key: site2.accessKey,
    minio_mirror_target_secret_key: site2.secretKey,
    minio_mirror_target_ca_src: ca.caFile,
    minio_mirror_service_manager: "command",
  });
  Object.assign(children.minio.hosts.minio1, { minio_mirror_root: cluster.roots.minio1, minio_mirror_service_command: cluster.supervisor.hook("minio1") });
  writeFileSync(cluster.inventory, JSON.stringify(inv, null, 2));
}, 1_800_000);

afterAll(async () => {
  if (!INNER) return;
  await cluster?.supervisor.stopAll();
  await site2?.stop();
  if (!process.env.RTER_DEPLOY_KEEP) for (const d of [cluster?.dir, bundleDir, mcDir]) if (d) rmSync(d, { recursive: true, force: true });
}, 120_000);

(INNER ? describe : () => {})("restore drill: PITR with pgBackRest and the object mirror, on five local hosts, offline", () => {
  test("site.yml archives WAL to the second site, takes a first full backup and starts the mirror; a second run changes nothing", async () => {
    const first = await playbook(["site.yml"]);
    expectClean(first);
    expect(await psql("show archive_mode")).toBe("on");
    expect(await psql("show archive_timeout")).toBe(`${ARCHIVE_TIMEOUT_S}s`);
    expect(await psql("show max_slot_wal_keep_size")).toBe("20GB");
    const info = JSON.parse((await pgbackrest(["info", "--output=json"])).out);
    expect(info[0].status.message).toBe("ok");
    expect(info[0].backup.map((b: { type: string }) => b.type)).toEqual(["full"]);
    // The repository is encrypted and on the second site, not on the database host.
    expect(info[0].cipher).toBe("aes-256-cbc");
    expect(await mc(["ls", "--recursive", `site2/${PGBR_BUCKET}`])).toContain("backup.info");
    // Without systemd each start of the mirror's oneshot service is one pass (systemd: its timer).
    expect(cluster.supervisor.actions).toContain(`minio1 start ${MIRROR_UNIT}`);
    // Secrets stay in files only their service reads.
    const conf = join(cluster.roots.db1, "etc/pgbackrest/pgbackrest.conf");
    expect(Bun.spawnSync(["stat", "-c", "%a %U %G", conf]).stdout.toString().trim()).toBe("640 root postgres");
    expect(
      Bun.spawnSync(["stat", "-c", "%a %U %G", join(cluster.roots.minio1, "etc/rter-object-mirror/env")])
        .stdout.toString()
        .trim(),
    ).toBe("640 root rter-mirror");
    expect(first.output).not.toContain(site2.secretKey);

    const second = await playbook(["site.yml"]);
    expectClean(second);
    // This drill's parts (the database's backups, the mirror) change nothing on a second run.
    expect(second.changedTasks.filter((t) => /: (postgres|minio_mirror) : /.test(t))).toEqual([]);
    console.log(`site.yml with PITR and mirror: first run ${(first.ms / 1000).toFixed(0)} s, second run ${(second.ms / 1000).toFixed(0)} s, 0 changed`);
  }, 1_800_000);

  test("the backup and mirror units pass systemd-analyze verify and security", async () => {
    const sys = join(cluster.roots.db1, "etc/systemd/system");
    const dir = mkdtempSync(join(cluster.dir, "units-"));
    // A template is verified as an instance.
    copyFileSync(join(sys, "rter-pgbackrest@.service"), join(dir, "rter-pgbackrest@full.service"));
    const units = [
      join(dir, "rter-pgbackrest@full.service"),
      join(sys, "rter-pgbackrest-full.timer"),
      join(sys, "rter-pgbackrest-incr.timer"),
      join(cluster.roots.minio1, "etc/systemd/system", MIRROR_UNIT),
      join(cluster.roots.minio1, "etc/systemd/system/rter-object-mirror.timer"),
    ];
    for (const u of units) {
      expect(readFileSync(u, "utf8")).toContain("# Managed by Ansible");
      const v = Bun.spawnSync(["systemd-analyze", "verify", u], { stdout: "pipe", stderr: "pipe" });
      const own = v.stderr
        .toString()
        .split("\n")
        .filter((l) => l.includes(u.split("/").pop()!) && !/postgresql@|rter-pgbackrest@(full|incr)\.service.*not found/.test(l));
      expect({ unit: u, problems: own }).toEqual({ unit: u, problems: [] });
    }
    for (const u of units.filter((x) => x.endsWith(".service"))) {
      const s = Bun.spawnSync(["systemd-analyze", "security", "--offline=true", u], { stdout: "pipe", stderr: "pipe" });
      const level = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(s.stdout.toString())?.[1]);
      console.log(`systemd-analyze security ${u.split("/").pop()}: ${level}`);
      expect(level).toBeLessThan(4);
    }
  }, 120_000);

  test("restore drill: wipe the database and the video, restore to T, nothing before T lost or changed, nothing after T kept", async () => {
    const created = await nodeCli("api1", ["users", "add", "--email", "reporter@city.example", "--role", "reporter", "--password", "a long reporter password"]);
    expect(created.code).toBe(0);
    reporterToken = (await nodeCli("api1", ["tokens", "create", "--email", "reporter@city.example"])).out.trim().split("\n").at(-1)!;
    const client = new LbClient(cluster.lbUrl, reporterToken, 10_000);
    const media = await makeChunks("ts-h264-aac", 3, 1, "160x120");

    /** A stream of n chunks through the load balancer; returns its id and when each chunk was stored. */
    const writeStream = async (title: string, n: number) => {
      const c = await client.json("POST", "/api/v1/streams", { body: { title }, headers: { "idempotency-key": crypto.randomUUID() } });
      expect(c.status).toBe(201);
      const id = (c.body as { id: string }).id;
      const storedAt: number[] = [];
      for (let seq = 0; seq < n; seq++) {
        const put = await client.req("PUT", `/api/v1/streams/${id}/chunks/${seq}`, {
          body: media[seq % media.length]!,
          headers: { "content-type": "video/mp2t" },
        });
        expect(put.status).toBe(201);
        await put.arrayBuffer();
        storedAt.push(Date.now());
      }
      expect((await client.req("POST", `/api/v1/streams/${id}/finish`)).status).toBe(200);
      return { id, storedAt };
    };
    const segmented = (id: string) =>
      until(`stream ${id} segmented`, 120_000, async () => {
        const s = (await client.json("GET", `/api/v1/streams/${id}`)).body;
        return s.state === "finished" && s.segments + s.failed_chunks.length >= s.chunks ? s : null;
      });

    // 1. Before the backup, 2. an incremental backup (what the timer runs), 3. after it.
    const a = await writeStream("before the backup", 3);
    const unit = readFileSync(join(cluster.roots.db1, "etc/systemd/system/rter-pgbackrest@.service"), "utf8");
    const execStart = /^ExecStart=(.+)$/m.exec(unit)![1]!.replaceAll("%i", "incr").split(" ");
    const tb = performance.now();
    const incr = await run(execStart, { user: "postgres" });
    const backupMs = performance.now() - tb;
    expect({ code: incr.code, err: incr.err }).toEqual({ code: 0, err: "" });
    expect(JSON.parse((await pgbackrest(["info", "--output=json"])).out)[0].backup.map((b: { type: string }) => b.type)).toEqual(["full", "incr"]);
    const b = await writeStream("after the backup", 3);
    for (const s of [a, b]) expect(await segmented(s.id)).toMatchObject({ segments: 3 });
    // A finished stream's recording is made by a job after its segments: T comes after it.
    await until("the recordings of both streams", 180_000, async () =>
      (await psql(`select count(*) from streams where id in ('${a.id}', '${b.id}') and recording_sha256 is not null`)) === "2" ? true : null,
    );

    // 4. T: what the database holds, the audit head, and the WAL position.
    const snapshot = async () => ({
      chunks: (await psql("select stream_id || ':' || seq || ':' || sha256 from chunks order by 1")).split("\n").filter(Boolean),
      objects: Number(
        await psql(
          "select count(*) from (select object_key from chunks union select object_key from segments union select object_key from stream_inits union select recording_key from streams where recording_key is not null and recording_sha256 is not null) k",
        ),
      ),
      head: await psql("select seq || ':' || encode(hash, 'hex') from audit_log where seq is not null order by seq desc limit 1"),
      keys: (await psql("select object_key from chunks union select object_key from segments union select object_key from stream_inits order by 1")).split(
        "\n",
      ),
    });
    const atT = await snapshot();
    await Bun.sleep(1_000);
    const [tText, lsnT] = (await psql("select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00', pg_current_wal_lsn()")).split(
      "|",
    ) as [string, string];
    await Bun.sleep(1_000);
    expect(await snapshot()).toEqual(atT);
    expect(atT.chunks).toHaveLength(6);

    // 5. After T: written, mirrored, and to be gone after the restore.
    const c = await writeStream("after T", 2);
    const lastKey = await psql(`select object_key from chunks where stream_id = '${c.id}' order by seq desc limit 1`);
    // A tick of the mirror's timer: one pass.
    const tm = performance.now();
    await cluster.supervisor.act("minio1", "start", MIRROR_UNIT);
    const mirrorPassMs = performance.now() - tm;
    expect((await copiedKeys()).has(lastKey)).toBe(true);
    // The archive covers T once the segment holding T's position is archived (archive_timeout).
    const walT = await psql(`select pg_walfile_name('${lsnT}')`);
    await until("the archive to cover T", (ARCHIVE_TIMEOUT_S + 60) * 1000, async () =>
      (await psql("select coalesce(last_archived_wal, '') from pg_stat_archiver")) >= walT ? true : null,
    );
    // Everything the database held at T is on the second site.
    const copied = await copiedKeys();
    expect(atT.keys.filter((k) => !copied.has(k))).toEqual([]);

    // 6. The loss: the primary's data directory and MinIO's disk, gone. What the archive had not
    // received yet at this moment is what a real loss would cost (the RPO).
    const rpoS = Number(await psql("select extract(epoch from clock_timestamp() - last_archived_time) from pg_stat_archiver"));
    const wipedAt = performance.now();
    await cluster.supervisor.act("db1", "stop", PG_UNIT);
    rmSync(join(cluster.roots.db1, `var/lib/postgresql/${PG_VERSION}/${PG_CLUSTER}`), { recursive: true, force: true });
    await cluster.supervisor.act("minio1", "stop", "minio.service");
    rmSync(join(cluster.roots.minio1, "srv/minio/data"), { recursive: true, force: true });
    expect((await fetch(`${cluster.lbUrl}/readyz`, { tls: { rejectUnauthorized: false } } as RequestInit)).status).not.toBe(200);

    // 7. restore.yml to T.
    const restore = await playbook(["restore.yml", "-e", JSON.stringify({ restore_confirm: "yes", restore_target: tText })]);
    expectClean(restore);
    const rtoMs = performance.now() - wipedAt;
    expect(restore.output).not.toContain(site2.secretKey);

    // 8. Every object the restored database records is there with its hash, and the audit chain
    // vouches for every chunk; the chain holds up to the head noted at T.
    const verified = await nodeCli("api1", ["verify", "storage"]);
    expect({ code: verified.code, err: verified.err }).toEqual({ code: 0, err: "" });
    expect(verified.out).toContain(`storage intact: ${atT.objects} objects`);
    const audit = await nodeCli("api1", ["audit", "verify", "--head", atT.head]);
    expect({ code: audit.code, err: audit.err }).toEqual({ code: 0, err: "" });
    expect(audit.out).toContain(`the shipped head is seq ${atT.head.split(":")[0]}`);
    // Exactly T: everything before, nothing after.
    const after = (await psql("select stream_id || ':' || seq || ':' || sha256 from chunks order by 1")).split("\n").filter(Boolean);
    expect(after).toEqual(atT.chunks);
    expect(await psql(`select count(*) from streams where id = '${c.id}'`)).toBe("0");
    expect(await psql(`select count(*) from audit_log where target_id = '${c.id}'`)).toBe("0");
    expect((await client.json("GET", `/api/v1/streams/${c.id}`)).status).toBe(404);
    for (const s of [a, b]) expect((await client.json("GET", `/api/v1/streams/${s.id}`)).body).toMatchObject({ chunks: 3, segments: 3 });
    // The recording of a restored stream plays through the load balancer.
    const list = await (await client.req("GET", `/api/v1/streams/${a.id}/hls/index.m3u8`)).text();
    expect(list.match(/segments\/\d+\.ts/g)?.length).toBe(3);

    // 9. And it carries on: new writes, archived on the new timeline, mirrored again.
    const d = await writeStream("after the restore", 1);
    const dKey = await psql(`select object_key from chunks where stream_id = '${d.id}'`);
    await cluster.supervisor.act("minio1", "start", MIRROR_UNIT);
    expect((await copiedKeys()).has(dKey)).toBe(true);
    const check = await pgbackrest(["check"]);
    expect({ code: check.code, err: check.err }).toEqual({ code: 0, err: "" });
    expect(await psql("select timeline_id from pg_control_checkpoint()")).not.toBe("1");

    const restoreTask = /TASK \[postgres : Restore from the repository\][^\n]*\n/.test(restore.output);
    expect(restoreTask).toBe(true);
    console.log(
      `restore drill: RTO ${(rtoMs / 1000).toFixed(1)} s from the wipe to ready behind the load balancer (restore.yml ${(restore.ms / 1000).toFixed(1)} s, ${atT.objects} objects, ${atT.chunks.length} chunks); ` +
        `RPO at the loss: ${rpoS.toFixed(1)} s of WAL not yet archived (bound: archive_timeout ${ARCHIVE_TIMEOUT_S} s plus one archive-push); ` +
        `one mirror pass ${Math.round(mirrorPassMs)} ms (runs every minute: the video's RPO bound); incremental backup ${(backupMs / 1000).toFixed(1)} s`,
    );
  }, 1_800_000);
});
