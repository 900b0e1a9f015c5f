import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { until } from "../support/admin.ts";
import { startCluster, type ProcessCluster } from "../support/cluster-fixture.ts";
import { makeChunks } from "../support/media.ts";
import { runCli, type RterProcess } from "../support/rter-process.ts";

let cluster: ProcessCluster;
let db: ProcessCluster["db"];
let api: RterProcess;
let token: string;

beforeAll(async () => {
  cluster = await startCluster({ RTER_GAP_WAIT: "2s" });
  const { env } = cluster;
  db = cluster.db;
  api = await cluster.ready("--roles", "api");
  await runCli(["users", "add", "--email", "field@city.example", "--role", "reporter", "--password", "field-reporter-pw"], env);
  token = (await runCli(["tokens", "create", "--email", "field@city.example"], env)).stdout.trim().split("\n").pop()!;
}, 120_000);
afterAll(() => cluster?.stop());

async function call(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${api.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers }, signal: AbortSignal.timeout(30_000) });
}
async function newStream(): Promise<string> {
  const r = await call("/api/v1/streams", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  return ((await r.json()) as { id: string }).id;
}
const put = (id: string, seq: number, bytes: Uint8Array<ArrayBuffer>, type = "video/webm") =>
  call(`/api/v1/streams/${id}/chunks/${seq}`, { method: "PUT", headers: { "content-type": type }, body: bytes });

/** A reporter's retry loop: back off on 503 as Retry-After says, give up after the budget. */
async function putWithRetry(id: string, seq: number, bytes: Uint8Array<ArrayBuffer>, budgetMs = 60_000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const r = await put(id, seq, bytes).catch(() => null);
    if (r && (r.status === 201 || r.status === 200)) return r.status;
    if (r && r.status !== 503) throw new Error(`unexpected ${r.status}: ${await r.text()}`);
    if (Date.now() - t0 > budgetMs) throw new Error("retry budget exhausted");
    await Bun.sleep(Number(r?.headers.get("retry-after") ?? 1) * 200);
  }
}

type Settled = { segments: number; chunks: number; failed_chunks: unknown[] };

async function untilSettled(id: string, n: number, ms = 90_000): Promise<Settled> {
  let s: Settled | undefined;
  return await until(
    () => `stream ${id} to settle at ${n} chunks; last seen ${JSON.stringify(s)}`,
    async () => {
      s = (await (await call(`/api/v1/streams/${id}`)).json()) as Settled;
      return s.chunks === n && s.segments + s.failed_chunks.length === n ? s : null;
    },
    ms,
  );
}

describe("failures while streaming", () => {
  test("MinIO stopped during uploads: 503 + Retry-After, nothing half-written; retries complete the stream", async () => {
    const w = await cluster.ready("--roles", "worker");
    const chunks = await makeChunks("webm-vp8-opus", 6, 1, "160x120");
    const id = await newStream();
    for (const i of [0, 1]) expect(await putWithRetry(id, i, chunks[i]!)).toBe(201);
    await cluster.minio.stop();
    const during = await put(id, 2, chunks[2]!);
    expect(during.status).toBe(503);
    expect(during.headers.get("content-type")).toBe("application/problem+json");
    expect(Number(during.headers.get("retry-after"))).toBeGreaterThan(0);
    // The failed upload left no chunk row behind.
    expect((await db.query("select count(*)::int n from chunks where stream_id = $1", [id])).rows[0].n).toBe(2);
    const retries = [2, 3, 4, 5].map((i) => putWithRetry(id, i, chunks[i]!));
    await Bun.sleep(1_500);
    await cluster.minio.start();
    expect(await Promise.all(retries)).toEqual([201, 201, 201, 201]);
    const s = await untilSettled(id, 6);
    expect(s.failed_chunks).toEqual([]);
    await call(`/api/v1/streams/${id}/finish`, { method: "POST" });
    const list = await (await call(`/api/v1/streams/${id}/hls/index.m3u8`)).text();
    expect(list.match(/segments\/\d+\.ts/g)).toHaveLength(6);
    expect(await w.stop()).toBe(0);
  }, 180_000);

  test("a worker SIGKILLed in the middle of a segment job: the other finishes it, every segment exactly once", async () => {
    const w1 = await cluster.spawn("--roles", "worker");
    const w2 = await cluster.spawn("--roles", "worker");
    await Promise.all([w1.waitReady(), w2.waitReady()]);
    // VP8 at 640x360 must be transcoded: long enough to kill a worker mid-job.
    const chunks = await makeChunks("webm-vp8-opus", 8, 2, "640x360");
    const id = await newStream();
    await Promise.all(chunks.map((c, i) => putWithRetry(id, i, c)));
    let victim: RterProcess | null = null;
    const t0 = Date.now();
    while (!victim && Date.now() - t0 < 30_000) {
      const { rows } = await db
        .query("select locked_by from graphile_worker.jobs where task_identifier = 'segment_chunk' and locked_at is not null limit 1")
        .catch(() => ({ rows: [] as { locked_by: string }[] }));
      if (rows[0]) {
        const hb = await db.query("select node_id from worker_heartbeats where $1 = any(pool_ids)", [rows[0].locked_by]);
        const node = hb.rows[0]?.node_id as string | undefined;
        for (const w of [w1, w2]) if (node && ((await (await fetch(`${w.url}/healthz`)).json()) as { node: string }).node === node) victim = w;
      }
      if (!victim) await Bun.sleep(50);
    }
    expect(victim).not.toBeNull();
    victim!.proc.kill("SIGKILL");
    const s = await untilSettled(id, 8, 60_000);
    expect(s.failed_chunks).toEqual([]);
    expect(s.segments).toBe(8);
    const dupes = await db.query("select seq, count(*)::int n from segments where stream_id = $1 group by seq having count(*) > 1", [id]);
    expect(dupes.rows).toEqual([]);
    // All eight arrived at once, so the live playlist jumped ahead (live first); finished, it lists every one.
    await call(`/api/v1/streams/${id}/finish`, { method: "POST" });
    const list = await (await call(`/api/v1/streams/${id}/hls/index.m3u8`)).text();
    expect(list.match(/segments\/(\d+)\.ts/g) as string[]).toEqual(Array.from({ length: 8 }, (_, i) => `segments/${i}.ts`));
  }, 180_000);
});
