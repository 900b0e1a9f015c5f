import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { openStore, parseStorageUrl } from "../../core/storage/open.ts";
import type { ObjectStore } from "../../core/storage/store.ts";
import { api, until, userToken } from "../support/admin.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { startRter, type RterProcess } from "../support/rter-process.ts";

let minio: TestMinio;
let db: pg.Client;
let store: ObjectStore;
let node: RterProcess;
let admin: ReturnType<typeof api>;
let operator: ReturnType<typeof api>;
const procs: RterProcess[] = [];

const streamId = crypto.randomUUID();
const key = (name: string) => `streams/${streamId}/${name}`;
const bytes = (seed: number, n = 300_000) => new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);
/** What ingest recorded: key -> original bytes. */
const originals = new Map<string, Uint8Array>();

beforeAll(async () => {
  minio = await startMinio();
  const url = await testDatabaseUrl();
  const env = { DATABASE_URL: url, RTER_STORAGE_URL: minio.url, RTER_FIXITY_SCHEDULE: "off" };
  node = await startRter({ env, args: ["--roles", "api,worker"] });
  procs.push(node);
  await node.waitReady();
  admin = api(node.url, await userToken(node.url, env, "fixity@city.example", "admin"));
  operator = api(node.url, await userToken(node.url, env, "op@city.example", "operator"));
  db = new pg.Client({ connectionString: url });
  await db.connect();
  store = openStore(parseStorageUrl(minio.url, mkdtempSync(join(tmpdir(), "rter-fixity-"))));

  // A finished stream as ingest leaves it: three chunks, a segment, a recording, each hashed on the way in.
  const owner = (await db.query("select id from users where email = 'fixity@city.example'")).rows[0].id;
  await db.query("insert into streams (id, owner_id, state) values ($1, $2, 'finished')", [streamId, owner]);
  for (let seq = 0; seq < 3; seq++) {
    const k = key(`chunks/${String(seq).padStart(6, "0")}.webm`);
    const put = await store.put(k, bytes(seq));
    originals.set(k, bytes(seq));
    await db.query("insert into chunks (stream_id, seq, object_key, sha256, size, content_type) values ($1, $2, $3, $4, $5, 'video/webm')", [
      streamId,
      seq,
      k,
      put.sha256,
      put.size,
    ]);
  }
  const seg = key("segments/000000.ts");
  const segPut = await store.put(seg, bytes(10));
  originals.set(seg, bytes(10));
  await db.query(
    "insert into segments (stream_id, seq, object_key, sha256, size, duration, start_offset, program_date_time, remuxed) values ($1, 0, $2, $3, $4, 2.0, 0, now(), true)",
    [streamId, seg, segPut.sha256, segPut.size],
  );
  const rec = key("recording.mp4");
  const recPut = await store.put(rec, bytes(20, 1_000_000));
  originals.set(rec, bytes(20, 1_000_000));
  await db.query("update streams set recording_key = $2, recording_sha256 = $3, recording_size = $4 where id = $1", [
    streamId,
    rec,
    recPut.sha256,
    recPut.size,
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop("SIGKILL").catch(() => 0)));
  await store?.close();
  await db?.end();
  await minio?.stop();
});

type Failure = {
  id: string;
  object_key: string;
  source: string;
  stream_id: string;
  reason: string;
  expected_sha256: string;
  actual_sha256: string | null;
  detections: number;
  resolved_at: string | null;
};
type Status = { integrity: { last_run_at: string | null; objects_checked: number; mismatches_open: number } };

/** On-demand run through the API; resolves with the finished run row. */
async function runFixity(body?: Record<string, unknown>) {
  const before = (await db.query("select coalesce(max(id), 0)::int as id from fixity_runs")).rows[0].id;
  const res = await admin("/api/v1/admin/fixity", { method: "POST", body });
  expect(res.status).toBe(202);
  expect((await res.json()) as { job_id: string }).toEqual({ job_id: expect.stringMatching(/^\d+$/) });
  return until("fixity run finished", async () => {
    const { rows } = await db.query(
      "select id, objects_checked, mismatches, missing, bytes_checked::int, outcome from fixity_runs where id > $1 and finished_at is not null",
      [before],
    );
    return rows[0];
  });
}
const openFailures = async () => ((await (await admin("/api/v1/admin/fixity/failures")).json()) as { failures: Failure[] }).failures;
const status = async () => (await (await fetch(`${node.url}/api/v1/status`)).json()) as Status;
const sha = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

describe("fixity", () => {
  test("a clean store: every object re-read, nothing open", async () => {
    expect((await status()).integrity).toEqual({ last_run_at: null, objects_checked: 0, mismatches_open: 0 });
    const run = await runFixity();
    expect(run).toMatchObject({ objects_checked: 5, mismatches: 0, missing: 0, outcome: "complete", bytes_checked: 3 * 300_000 + 300_000 + 1_000_000 });
    expect(await openFailures()).toEqual([]);
    const s = await status();
    expect(s.integrity).toMatchObject({ objects_checked: 5, mismatches_open: 0 });
    expect(Date.now() - Date.parse(s.integrity.last_run_at!)).toBeLessThan(60_000);
  }, 60_000);

  test("a tampered and a deleted object are reported, exactly those, once each", async () => {
    const tampered = key("chunks/000001.webm");
    const deleted = key("segments/000000.ts");
    const forged = bytes(99);
    await store.put(tampered, forged);
    await store.delete(deleted);

    const run = await runFixity();
    expect(run).toMatchObject({ objects_checked: 5, mismatches: 2, missing: 1, outcome: "complete" });
    const failures = await openFailures();
    expect(failures.map((f) => [f.object_key, f.reason]).sort()).toEqual(
      [
        [tampered, "mismatch"],
        [deleted, "missing"],
      ].sort(),
    );
    const m = failures.find((f) => f.reason === "mismatch")!;
    expect(m).toMatchObject({
      source: "chunk",
      stream_id: streamId,
      expected_sha256: sha(originals.get(tampered)!),
      actual_sha256: sha(forged),
      resolved_at: null,
      detections: 1,
    });
    expect(failures.find((f) => f.reason === "missing")).toMatchObject({ source: "segment", actual_sha256: null });
    expect((await status()).integrity).toMatchObject({ objects_checked: 5, mismatches_open: 2 });
    expect(await (await fetch(`${node.url}/metrics`)).text()).toMatch(/^rter_fixity_mismatches_open 2$/m);

    // Checked again: still the same two open failures, seen twice, not four rows.
    await runFixity();
    const again = await openFailures();
    expect(again.map((f) => [f.id, f.detections]).sort()).toEqual(failures.map((f) => [f.id, 2]).sort());
  }, 60_000);

  test("a restored object closes its failure, which stays on record", async () => {
    const tampered = key("chunks/000001.webm");
    await store.put(tampered, originals.get(tampered)!);
    await runFixity();
    expect((await openFailures()).map((f) => f.reason)).toEqual(["missing"]);
    const all = ((await (await admin("/api/v1/admin/fixity/failures?state=all")).json()) as { failures: Failure[] }).failures;
    expect(all.find((f) => f.object_key === tampered)!.resolved_at).not.toBeNull();
    expect((await status()).integrity.mismatches_open).toBe(1);
  }, 60_000);

  test("small batches walk every object across chained jobs without counting twice", async () => {
    const run = await runFixity({ limit: 2 });
    expect(run).toMatchObject({ objects_checked: 5, mismatches: 1, missing: 1 });
    const page = (await (await admin("/api/v1/admin/fixity/failures?limit=1")).json()) as { failures: Failure[]; next_before: string | null };
    expect(page.failures).toHaveLength(1);
  }, 60_000);

  test("admins only; bodies and queries are validated", async () => {
    expect((await operator("/api/v1/admin/fixity", { method: "POST" })).status).toBe(403);
    expect((await operator("/api/v1/admin/fixity/failures")).status).toBe(403);
    expect((await admin("/api/v1/admin/fixity", { method: "POST", body: { limit: 0 } })).status).toBe(400);
    expect((await admin("/api/v1/admin/fixity", { method: "POST", body: { bogus: 1 } })).status).toBe(400);
    expect((await admin("/api/v1/admin/fixity/failures?state=mine")).status).toBe(400);
    expect((await admin("/api/v1/admin/fixity/failures?before=1e3")).status).toBe(400);
  });
});
