import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, until, userToken } from "../support/admin.ts";
import { startCluster, type ProcessCluster } from "../support/cluster-fixture.ts";
import type { RterProcess } from "../support/rter-process.ts";

// Real processes against one Postgres and MinIO: an API node and worker nodes with the default
// liveness settings (heartbeat 1 s, dead after 5 s).
let cluster: ProcessCluster;
let db: ProcessCluster["db"];
let admin: ReturnType<typeof api>;

beforeAll(async () => {
  cluster = await startCluster({ RTER_FIXITY_SCHEDULE: "off" });
  db = cluster.db;
  const apiNode = await cluster.ready("--roles", "api");
  admin = api(apiNode.url, await userToken(apiNode.url, cluster.env, "liveness@city.example", "admin"));
}, 120_000);

afterAll(() => cluster?.stop());

const worker = (...args: string[]): Promise<RterProcess> => cluster.spawn("--roles", "worker", ...args);
const nodeOf = async (p: RterProcess) => ((await (await fetch(`${p.url}/healthz`)).json()) as { node: string }).node;
const jobOfProbe = async (probeId: string) =>
  (await db.query("select id::text, locked_by, attempts, last_error from graphile_worker._private_jobs where payload->>'probeId' = $1", [probeId])).rows[0] as
    | { id: string; locked_by: string | null; attempts: number; last_error: string | null }
    | undefined;
const probeRow = async (id: string) =>
  (await db.query("select run_count, worker_id from queue_probes where id = $1", [id])).rows[0] as { run_count: number; worker_id: string | null };
const heartbeat = async (node: string) =>
  (await db.query("select node_id, pool_ids, jobs from worker_heartbeats where node_id = $1", [node])).rows[0] as
    | { pool_ids: string[]; jobs: string }
    | undefined;

async function enqueueProbe(holdMs: number): Promise<string> {
  const res = await admin("/api/v1/admin/queue-probes", { method: "POST", body: { hold_ms: holdMs } });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

describe("dead workers do not stall the queue", () => {
  test("a SIGKILLed worker's job is started by the other worker within 15 s; its heartbeat row is swept", async () => {
    const [a, b] = await Promise.all([worker(), worker()]);
    await Promise.all([a.waitReady(), b.waitReady()]);
    const nodes = new Map([
      [await nodeOf(a), a],
      [await nodeOf(b), b],
    ]);
    await until("both heartbeats", async () => (await heartbeat([...nodes.keys()][0]!)) && (await heartbeat([...nodes.keys()][1]!)));

    const probeId = await enqueueProbe(20_000);
    const locked = await until("probe job locked", async () => {
      const j = await jobOfProbe(probeId);
      return j?.locked_by ? j : null;
    });
    // The holder is the node whose heartbeat claims the pool that locked the job.
    const holderNode = await until("holder's heartbeat names the pool", async () => {
      const { rows } = await db.query("select node_id from worker_heartbeats where $1 = any(pool_ids)", [locked.locked_by]);
      return rows[0]?.node_id as string | undefined;
    });
    const holder = nodes.get(holderNode)!;
    const survivor = holder === a ? b : a;
    const survivorNode = await nodeOf(survivor);

    const killedAt = Date.now();
    holder.proc.kill("SIGKILL");
    await holder.proc.exited;
    const retaken = await until(
      "the job locked by another pool",
      async () => {
        const j = await jobOfProbe(probeId);
        return j?.locked_by && j.locked_by !== locked.locked_by ? j : null;
      },
      15_000,
    );
    const elapsed = Date.now() - killedAt;
    console.log(`SIGKILL -> job locked by the surviving worker: ${elapsed} ms`);
    expect(elapsed).toBeLessThan(15_000);
    expect((await heartbeat(survivorNode))!.pool_ids).toContain(retaken.locked_by!);
    expect(retaken.attempts).toBe(2);
    expect(retaken.last_error).toContain(`worker ${holderNode} stopped heartbeating`);
    expect(await heartbeat(holderNode)).toBeUndefined();
    expect(survivor.output()).toContain("released the jobs of a dead worker");

    const row = await until(
      "probe run by the survivor",
      async () => {
        const r = await probeRow(probeId);
        return r.run_count > 0 ? r : null;
      },
      40_000,
    );
    expect(row).toEqual({ run_count: 1, worker_id: survivorNode });

    // A clean stop is not a death: the row goes with the process.
    expect(await survivor.stop("SIGTERM")).toBe(0);
    expect(await heartbeat(survivorNode)).toBeUndefined();
  }, 120_000);

  test("a lock held by a pool no heartbeat claims (died before its first beat) is released", async () => {
    const w = await worker();
    await w.waitReady();
    const { rows } = await db.query("insert into queue_probes default values returning id");
    const probeId = rows[0].id as string;
    // Not due yet, so no worker takes it before it is made to look held by a vanished pool.
    await db.query("select graphile_worker.add_job('queue_probe', $1::json, run_at := now() + interval '1 hour')", [JSON.stringify({ probeId, holdMs: 0 })]);
    await db.query(
      "update graphile_worker._private_jobs set locked_by = 'ghost-pool', locked_at = now() - interval '1 minute', attempts = 1, run_at = now() where payload->>'probeId' = $1",
      [probeId],
    );
    const t0 = Date.now();
    const row = await until(
      "ghost-locked probe run",
      async () => {
        const r = await probeRow(probeId);
        return r.run_count > 0 ? r : null;
      },
      20_000,
    );
    console.log(`ghost lock released and job run after ${Date.now() - t0} ms`);
    expect(row.worker_id).toBe(await nodeOf(w));
    expect(w.output()).toContain("released jobs locked by a queue pool without a live worker");
    expect(await w.stop("SIGTERM")).toBe(0);
  }, 60_000);
});

describe("live before batch", () => {
  test("a --jobs live worker runs live jobs but leaves batch jobs; a --jobs batch worker runs them", async () => {
    const live = await worker("--jobs", "live");
    await live.waitReady();
    const liveNode = await nodeOf(live);
    await until("live heartbeat", () => heartbeat(liveNode));
    expect((await heartbeat(liveNode))!.jobs).toBe("live");

    const res = await admin("/api/v1/admin/fixity", { method: "POST" });
    expect(res.status).toBe(202);
    const { job_id } = (await res.json()) as { job_id: string };
    const job = (await db.query("select priority, queue_name from graphile_worker.jobs where id = $1", [job_id])).rows[0];
    expect(job).toEqual({ priority: 10, queue_name: "fixity" });

    // The live worker is taking jobs: a probe enqueued after the batch job still runs at once.
    const probeId = await enqueueProbe(0);
    const probe = await until("probe run by the live worker", async () => {
      const r = await probeRow(probeId);
      return r.run_count > 0 ? r : null;
    });
    expect(probe.worker_id).toBe(liveNode);
    await Bun.sleep(2_500); // a couple more polls
    const waiting = (await db.query("select attempts, locked_by from graphile_worker._private_jobs where id = $1", [job_id])).rows[0];
    expect(waiting).toEqual({ attempts: 0, locked_by: null });
    expect((await db.query("select count(*)::int as n from fixity_runs")).rows[0].n).toBe(0);

    const batch = await worker("--jobs", "batch");
    await batch.waitReady();
    await until("fixity run complete", async () => (await db.query("select 1 from fixity_runs where outcome = 'complete'")).rows.length > 0);
    await until("batch job gone", async () => (await db.query("select 1 from graphile_worker._private_jobs where id = $1", [job_id])).rows.length === 0);
    expect((await heartbeat(await nodeOf(batch)))!.jobs).toBe("batch");
    expect(await live.stop("SIGTERM")).toBe(0);
    expect(await batch.stop("SIGTERM")).toBe(0);
  }, 90_000);
});
