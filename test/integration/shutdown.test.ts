import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { until } from "../support/admin.ts";
import { startCluster, type ProcessCluster } from "../support/cluster-fixture.ts";
import { runCli, type RterProcess } from "../support/rter-process.ts";

let cluster: ProcessCluster;
let db: ProcessCluster["db"];

beforeAll(async () => {
  cluster = await startCluster();
  db = cluster.db;
  expect((await runCli(["users", "add", "--email", "drill@city.example", "--role", "operator", "--password", "drain-drill-pw"], cluster.env)).code).toBe(0);
}, 120_000);
afterAll(() => cluster?.stop());

/** Returns the probe id and its job id. */
async function enqueueProbe(holdMs: number): Promise<{ id: string; job: string }> {
  const { rows } = await db.query("insert into queue_probes default values returning id");
  const job = await db.query("select (graphile_worker.add_job('queue_probe', $1::json)).id", [JSON.stringify({ probeId: rows[0].id, holdMs })]);
  return { id: rows[0].id, job: job.rows[0].id };
}

const probeRow = async (id: string) =>
  (await db.query("select run_count, worker_id from queue_probes where id = $1", [id])).rows[0] as { run_count: number; worker_id: string | null };
const lockedBy = async (job: string) =>
  (await db.query("select locked_by from graphile_worker.jobs where id = $1 and locked_at is not null", [job])).rows[0]?.locked_by as string | undefined;
const nodeOf = async (p: RterProcess) => ((await (await fetch(`${p.url}/healthz`)).json()) as { node: string }).node;

/** A login whose body trickles in over ~1.5 s: a request that is in flight when the signal lands. */
function slowLogin(url: string): { started: Promise<void>; response: Promise<Response> } {
  const body = JSON.stringify({ email: "drill@city.example", password: "drain-drill-pw" });
  let markStarted!: () => void;
  const started = new Promise<void>((r) => (markStarted = r));
  const stream = new ReadableStream<Uint8Array>({
    async start(c) {
      const bytes = new TextEncoder().encode(body);
      for (let i = 0; i < bytes.length; i += 8) {
        c.enqueue(bytes.slice(i, i + 8));
        if (i === 0) markStarted();
        await Bun.sleep(1_500 / (bytes.length / 8));
      }
      c.close();
    },
  });
  const response = fetch(`${url}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json", "content-length": String(body.length) },
    body: stream,
    // @ts-expect-error Bun/undici need half duplex for streamed request bodies
    duplex: "half",
  });
  return { started, response };
}

describe("SIGTERM drains", () => {
  test("an in-flight request completes and a running job completes; exit code 0", async () => {
    const a = await cluster.ready("--roles", "api,worker", "--shutdown-grace", "20s");
    const { id, job } = await enqueueProbe(3_000);
    await until("job locked", () => lockedBy(job));
    const req = slowLogin(a.url);
    await req.started;
    await Bun.sleep(200);
    a.proc.kill("SIGTERM");
    const res = await req.response;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { token: string }).token).toMatch(/^rter_/);
    expect(await a.stop("SIGTERM")).toBe(0);
    const row = await probeRow(id);
    expect(row.run_count).toBe(1);
  }, 60_000);

  test("a job longer than the grace period is released and run by another worker; exit code 0", async () => {
    const a = await cluster.ready("--roles", "worker", "--shutdown-grace", "1s");
    const { id, job } = await enqueueProbe(4_000);
    await until("job locked", () => lockedBy(job));
    const b = await cluster.ready("--roles", "worker");
    expect(await a.stop("SIGTERM", 15_000)).toBe(0);
    // Released at once, not left locked: unlocked, one attempt recorded, with the reason.
    const released = (await db.query("select locked_at, attempts, last_error from graphile_worker.jobs where id = $1", [job])).rows[0];
    expect(released).toMatchObject({ locked_at: null, attempts: 1 });
    expect(released.last_error).toContain("worker shutting down");
    const row = await until(
      "probe run by the other worker",
      async () => {
        const r = await probeRow(id);
        return r.run_count > 0 ? r : null;
      },
      40_000,
    );
    expect(row.run_count).toBe(1);
    expect(row.worker_id).toBe(await nodeOf(b));
    expect(await b.stop("SIGTERM")).toBe(0);
  }, 90_000);
});
