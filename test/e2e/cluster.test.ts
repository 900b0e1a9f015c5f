import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { quickAddJob } from "graphile-worker";
import pg from "pg";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { buildBinary, startRter, type RterProcess } from "../support/rter-process.ts";

let minio: TestMinio;
let binary: string;
const procs: RterProcess[] = [];

beforeAll(async () => {
  [minio, binary] = await Promise.all([startMinio(), buildBinary()]);
}, 180_000);
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop("SIGKILL").catch(() => 0)));
  await minio?.stop();
});

async function adminToken(api: RterProcess): Promise<string> {
  const m = /Email:\s+(\S+)\n\s+Password:\s+(\S+)/.exec(api.output());
  if (!m) throw new Error(`no first-admin credentials printed:\n${api.output().slice(-2000)}`);
  const res = await fetch(`${api.url}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: m[1], password: m[2] }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

async function nodeId(p: RterProcess): Promise<string> {
  return ((await (await fetch(`${p.url}/healthz`)).json()) as { node: string }).node;
}

describe("the compiled binary", () => {
  test("three processes started at the same instant against an empty database all become ready", async () => {
    const db = await testDatabaseUrl();
    const env = { DATABASE_URL: db, RTER_STORAGE_URL: minio.url };
    const three = await Promise.all([0, 1, 2].map(() => startRter({ binary, env })));
    procs.push(...three);
    await Promise.all(three.map((p) => p.waitReady(60_000)));
    // Exactly one of them created the first admin.
    expect(three.filter((p) => p.output().includes("First start: an admin account was created")).length).toBe(1);
    const codes = await Promise.all(three.map((p) => p.stop("SIGTERM")));
    expect(codes).toEqual([0, 0, 0]);
  }, 120_000);

  test("api+web and two workers work as one system: each job runs exactly once, spread over both workers", async () => {
    const db = await testDatabaseUrl();
    const env = { DATABASE_URL: db, RTER_STORAGE_URL: minio.url };
    const [api, w1, w2] = await Promise.all([
      startRter({ binary, env, args: ["--roles", "api,web"] }),
      startRter({ binary, env, args: ["--roles", "worker"] }),
      startRter({ binary, env, args: ["--roles", "worker"] }),
    ]);
    procs.push(api!, w1!, w2!);
    await Promise.all([api!, w1!, w2!].map((p) => p.waitReady(60_000)));
    // Each role serves only its own routes; a worker still answers health.
    expect((await fetch(`${w1!.url}/api/v1/auth/me`)).status).toBe(404);
    expect((await fetch(`${api!.url}/`)).headers.get("content-type")).toContain("text/html");
    const ready = (await (await fetch(`${w1!.url}/readyz`)).json()) as { checks: Record<string, unknown> };
    expect(Object.keys(ready.checks).sort()).toEqual(["ffmpeg", "postgres", "queue-worker", "storage"]);

    const token = await adminToken(api!);
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`${api!.url}/api/v1/admin/queue-probes`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ hold_ms: 150 }),
      });
      expect(res.status).toBe(201);
      ids.push(((await res.json()) as { id: string }).id);
    }
    // Jobs added straight through graphile-worker's own API land in the same queue.
    const client = new pg.Client({ connectionString: db });
    await client.connect();
    try {
      for (let i = 0; i < 10; i++) {
        const { rows } = await client.query("insert into queue_probes default values returning id");
        await quickAddJob({ connectionString: db }, "queue_probe", { probeId: rows[0].id, holdMs: 150 });
        ids.push(rows[0].id);
      }
      let rows: { id: string; run_count: number; worker_id: string | null }[] = [];
      for (let i = 0; i < 300; i++) {
        ({ rows } = await client.query("select id, run_count, worker_id from queue_probes where id = any($1)", [ids]));
        if (rows.every((r) => r.run_count > 0)) break;
        await Bun.sleep(100);
      }
      expect(rows).toHaveLength(40);
      expect(rows.every((r) => r.run_count === 1)).toBe(true);
      const workers = new Set(rows.map((r) => r.worker_id));
      expect(workers).toEqual(new Set([await nodeId(w1!), await nodeId(w2!)]));
      // Nothing left behind in the queue.
      await Bun.sleep(500);
      const left = await client.query("select count(*)::int as n from graphile_worker.jobs");
      expect(left.rows[0].n).toBe(0);
    } finally {
      await client.end();
    }
    expect(await Promise.all([api!, w1!, w2!].map((p) => p.stop("SIGTERM")))).toEqual([0, 0, 0]);
  }, 120_000);
});
