import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, until, userToken } from "../support/admin.ts";
import { startCluster, type ProcessCluster } from "../support/cluster-fixture.ts";
import { runCli, type RterProcess } from "../support/rter-process.ts";

let cluster: ProcessCluster;
let db: ProcessCluster["db"];
let env: Record<string, string>;
let apiNode: RterProcess;
let admin: ReturnType<typeof api>;
let operator: ReturnType<typeof api>;
/** Three jobs that fail on their only attempt: a probe payload without a uuid. */
const failing: string[] = [];

beforeAll(async () => {
  cluster = await startCluster({ RTER_FIXITY_SCHEDULE: "off" });
  ({ db, env } = cluster);
  apiNode = await cluster.ready("--roles", "api");
  admin = api(apiNode.url, await userToken(apiNode.url, env, "trouble@city.example", "admin"));
  operator = api(apiNode.url, await userToken(apiNode.url, env, "eoc@city.example", "operator"));
}, 120_000);

afterAll(() => cluster?.stop());

const jobRow = async (id: string) =>
  (await db.query("select attempts, max_attempts, locked_at, run_at <= now() as due, last_error from graphile_worker._private_jobs where id = $1", [id]))
    .rows[0];
const allFailed = (ids: string[]) => async () => {
  const { rows } = await db.query(
    "select count(*)::int as n from graphile_worker._private_jobs where id = any($1::bigint[]) and attempts >= max_attempts and locked_at is null",
    [ids],
  );
  return rows[0].n === ids.length;
};

/** A worker runs until the given jobs have all failed again, then stops. */
async function failThemOnce(ids: string[]): Promise<void> {
  const w = await cluster.ready("--roles", "worker");
  await until("jobs failed", allFailed(ids));
  expect(await w.stop("SIGTERM")).toBe(0);
}

type Page = {
  jobs: { id: string; task: string; payload: string; attempts: number; max_attempts: number; last_error: string | null; updated_at: string }[];
  next_before: string | null;
};

describe("trouble queue", () => {
  test("a job that exhausted its attempts is listed with its reason, paged by id", async () => {
    for (let i = 0; i < 3; i++) {
      const { rows } = await db.query(`select (graphile_worker.add_job('queue_probe', '{"probeId":"not-a-uuid"}', max_attempts := 1)).id::text as id`);
      failing.push(rows[0].id);
    }
    await failThemOnce(failing);

    const res = await admin("/api/v1/admin/jobs/failed");
    expect(res.status).toBe(200);
    const page = (await res.json()) as Page;
    expect(page.jobs.map((j) => j.id)).toEqual([...failing].reverse());
    expect(page.next_before).toBeNull();
    expect(page.jobs[0]).toMatchObject({ task: "queue_probe", attempts: 1, max_attempts: 1, payload: '{"probeId":"not-a-uuid"}' });
    expect(page.jobs[0]!.last_error).toContain("queue_probe payload needs a uuid probeId");

    const first = (await (await admin("/api/v1/admin/jobs/failed?limit=2")).json()) as Page;
    expect(first.jobs.map((j) => j.id)).toEqual([failing[2]!, failing[1]!]);
    expect(first.next_before).toBe(failing[1]!);
    const second = (await (await admin(`/api/v1/admin/jobs/failed?limit=2&before=${first.next_before}`)).json()) as Page;
    expect(second).toMatchObject({ jobs: [{ id: failing[0] }], next_before: null });

    const status = (await (await fetch(`${apiNode.url}/api/v1/status`)).json()) as { queue: { failed: number } };
    expect(status.queue.failed).toBe(3);
    const list = await runCli(["jobs", "list"], env);
    expect(list.code).toBe(0);
    for (const id of failing) expect(list.stdout).toMatch(new RegExp(`^\\s*${id}\\s+queue_probe\\s+1/1 .*queue_probe payload needs a uuid probeId`, "m"));
  }, 90_000);

  test("retry by endpoint, by `rter jobs retry ID` and for all: attempts reset, due now, and they run again", async () => {
    const res = await admin(`/api/v1/admin/jobs/${failing[0]}/retry`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: failing[0], task: "queue_probe", attempts: 0, max_attempts: 1 });
    expect(await jobRow(failing[0]!)).toMatchObject({ attempts: 0, locked_at: null, due: true });

    const cli = await runCli(["jobs", "retry", failing[1]!], env);
    expect(cli).toMatchObject({ code: 0, stderr: "" });
    expect(cli.stdout.trim()).toBe(`re-queued job ${failing[1]} (queue_probe), attempts reset`);
    expect(await jobRow(failing[1]!)).toMatchObject({ attempts: 0, due: true });

    const page = (await (await admin("/api/v1/admin/jobs/failed")).json()) as Page;
    expect(page.jobs.map((j) => j.id)).toEqual([failing[2]!]);
    const all = await admin("/api/v1/admin/jobs/retry-all", { method: "POST" });
    expect(await all.json()).toEqual({ retried: 1 });
    expect(await jobRow(failing[2]!)).toMatchObject({ attempts: 0, due: true });
    expect(((await (await admin("/api/v1/admin/jobs/failed")).json()) as Page).jobs).toEqual([]);

    // Re-queued for real: a worker takes them and they fail (and are listed) again.
    await failThemOnce(failing);
    expect(((await (await admin("/api/v1/admin/jobs/failed")).json()) as Page).jobs).toHaveLength(3);
    const cliAll = await runCli(["jobs", "retry", "--all"], env);
    expect(cliAll.code).toBe(0);
    expect(cliAll.stdout.trim()).toBe("re-queued 3 failed jobs");
    for (const id of failing) expect(await jobRow(id)).toMatchObject({ attempts: 0, due: true });
  }, 90_000);

  test("hostile ids are 400, unknown ids 404, a running job 409, non-admins 403", async () => {
    for (const bad of ["abc", "-1", "1e12", "0", "01", "99999999999999999999", "9223372036854775808", "'; drop table users; --", "1%20or%201=1"]) {
      const res = await admin(`/api/v1/admin/jobs/${encodeURIComponent(bad)}/retry`, { method: "POST" });
      expect({ bad, status: res.status }).toEqual({ bad, status: 400 });
      expect(res.headers.get("content-type")).toContain("application/problem+json");
    }
    for (const q of ["before=abc", "before=-1", "limit=0", "limit=201", "limit=ten", "extra=1"]) {
      expect({ q, status: (await admin(`/api/v1/admin/jobs/failed?${q}`)).status }).toEqual({ q, status: 400 });
    }
    const unknown = await admin("/api/v1/admin/jobs/987654321/retry", { method: "POST" });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ status: 404, code: "not_found", detail: "no job 987654321" });

    const { rows } = await db.query(`select (graphile_worker.add_job('queue_probe', '{"probeId":"not-a-uuid"}')).id::text as id`);
    await db.query("update graphile_worker._private_jobs set locked_at = now(), locked_by = 'test-pool' where id = $1", [rows[0].id]);
    expect((await admin(`/api/v1/admin/jobs/${rows[0].id}/retry`, { method: "POST" })).status).toBe(409);
    await db.query("delete from graphile_worker._private_jobs where id = $1", [rows[0].id]);

    const cliUnknown = await runCli(["jobs", "retry", "987654321"], env);
    expect(cliUnknown.code).not.toBe(0);
    expect(cliUnknown.stderr.trim()).toBe("rter: no job 987654321");
    const cliBad = await runCli(["jobs", "retry", "'; drop table users; --"], env);
    expect(cliBad.code).toBe(2);
    expect(cliBad.stderr.trim().split("\n")).toHaveLength(1);
    expect(cliBad.stderr).toStartWith("rter: not a job id");
    expect((await runCli(["jobs", "retry"], env)).stderr.trim()).toBe("rter: jobs retry needs one job ID or --all");

    expect((await operator("/api/v1/admin/jobs/failed")).status).toBe(403);
    expect((await operator(`/api/v1/admin/jobs/${failing[0]}/retry`, { method: "POST" })).status).toBe(403);
    expect((await operator("/api/v1/admin/jobs/retry-all", { method: "POST" })).status).toBe(403);
    expect((await api(apiNode.url, null)("/api/v1/admin/jobs/failed")).status).toBe(401);
    // Nothing was dropped or changed by the hostile input.
    expect((await db.query("select count(*)::int as n from users")).rows[0].n).toBeGreaterThanOrEqual(2);
    for (const id of failing) expect(await jobRow(id)).toMatchObject({ attempts: 0 });
  }, 60_000);
});
