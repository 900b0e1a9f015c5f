import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, until, userToken } from "../support/admin.ts";
import { startCluster, type ProcessCluster } from "../support/cluster-fixture.ts";
import type { RterProcess } from "../support/rter-process.ts";
import { percentile } from "../support/security.ts";

// One real node (API and worker) with only four Postgres connections. Refused requests of every
// kind arrive fifty at a time; none may hold one connection while waiting for another, so each
// gets its own precise 4xx, a bystander's requests keep succeeding, and the worker keeps beating.
const CONCURRENCY = 50;

let cluster: ProcessCluster;
let node: RterProcess;
let nodeId: string;
let tokens: { admin: string; operator: string; reporter: string; tiny: string };
let usedInvite: string;
let heldStream: string;
let othersStream: string;
const reporterEmail = "field@pool.example";

beforeAll(async () => {
  cluster = await startCluster({ RTER_FIXITY_SCHEDULE: "off", RTER_RETENTION_SCHEDULE: "off" });
  node = await cluster.ready("--roles", "api,worker", "--db-pool-max", "4", "--trusted-proxies", "127.0.0.1");
  nodeId = ((await (await fetch(`${node.url}/healthz`)).json()) as { node: string }).node;
  const admin = await userToken(node.url, cluster.env, "admin@pool.example", "admin");
  const operator = await userToken(node.url, cluster.env, "operator@pool.example", "operator");
  const reporter = await userToken(node.url, cluster.env, reporterEmail, "reporter");
  const asAdmin = api(node.url, admin);
  const tiny = await asAdmin("/api/v1/admin/tokens", { method: "POST", body: { email: reporterEmail, name: "tiny quota", rate_limit_per_minute: 1 } });
  expect(tiny.status).toBe(201);
  tokens = { admin, operator, reporter, tiny: ((await tiny.json()) as { token: string }).token };

  const inv = await asAdmin("/api/v1/invites", { method: "POST", body: {} });
  usedInvite = ((await inv.json()) as { token: string }).token;
  expect((await api(node.url, null)("/api/v1/invites/accept", { method: "POST", body: { token: usedInvite } })).status).toBe(200);

  const create = (t: string, title: string, key?: string) =>
    fetch(`${node.url}/api/v1/streams`, {
      method: "POST",
      headers: { authorization: `Bearer ${t}`, "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
      body: JSON.stringify({ title }),
    });
  heldStream = ((await (await create(operator, "held")).json()) as { id: string }).id;
  expect((await api(node.url, operator)(`/api/v1/streams/${heldStream}/hold`, { method: "POST", body: { reason: "case 7" } })).status).toBe(201);
  othersStream = ((await (await create(operator, "not the reporter's")).json()) as { id: string }).id;
  expect((await create(reporter, "first", "pool-key-1")).status).toBe(201);
}, 180_000);

afterAll(() => cluster?.stop());

let addr = 0;
/** A client address of its own per request (the node trusts 127.0.0.1's X-Forwarded-For), so per-address limits do not blur the answers. */
const from = () => ({ "x-forwarded-for": `10.77.${(++addr >> 8) & 255}.${addr & 255}` });

interface Family {
  name: string;
  /** Statuses a refusal of this kind may get (e.g. 401 until the lockout, then 429). */
  expect: number[];
  send(i: number): Promise<Response>;
}

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${node.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...from(), ...headers }, body: JSON.stringify(body) });
const get = (path: string, token: string, method = "GET") => fetch(`${node.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...from() } });

const families: Family[] = [
  { name: "accept of a used invite", expect: [410], send: () => post("/api/v1/invites/accept", { token: usedInvite }) },
  { name: "accept of an invite that never existed", expect: [401], send: () => post("/api/v1/invites/accept", { token: `inv_${"A".repeat(43)}` }) },
  {
    name: "sign-in with a wrong password, unknown emails",
    expect: [401],
    send: (i) => post("/api/v1/auth/login", { email: `nobody${i}@pool.example`, password: "not the password" }),
  },
  {
    name: "sign-in of one account until it locks",
    expect: [401, 429],
    send: () => post("/api/v1/auth/login", { email: reporterEmail, password: "wrong guess" }),
  },
  { name: "a token over its own rate limit", expect: [200, 429], send: () => get("/api/v1/auth/me", tokens.tiny) },
  { name: "a forged token", expect: [401], send: () => get("/api/v1/auth/me", `rter_${"x".repeat(43)}`) },
  {
    name: "an Idempotency-Key reused with another body",
    expect: [422],
    send: (i) => post("/api/v1/streams", { title: `other ${i}` }, { authorization: `Bearer ${tokens.reporter}`, "idempotency-key": "pool-key-1" }),
  },
  { name: "a reporter on an admin route", expect: [403], send: () => get("/api/v1/admin/users", tokens.reporter) },
  { name: "a reporter on another's stream", expect: [404], send: () => get(`/api/v1/streams/${othersStream}`, tokens.reporter) },
  { name: "deleting a stream under legal hold", expect: [409], send: () => get(`/api/v1/streams/${heldStream}`, tokens.admin, "DELETE") },
];

/** Runs the family and, meanwhile, a bystander operator listing streams one request after another. */
async function underAttack(f: Family) {
  let done = false;
  const bystander: { status: number; ms: number }[] = [];
  const watching = (async () => {
    while (!done) {
      const t0 = performance.now();
      const r = await fetch(`${node.url}/api/v1/streams`, { headers: { authorization: `Bearer ${tokens.operator}` } });
      await r.arrayBuffer();
      bystander.push({ status: r.status, ms: performance.now() - t0 });
    }
  })();
  const statuses = await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, i) => {
      const r = await f.send(i);
      const body = await r.text();
      return { status: r.status, body };
    }),
  );
  // At least one bystander request completes after the family's last answer.
  await Bun.sleep(50);
  done = true;
  await watching;
  return { statuses, bystander };
}

describe(`refused requests do not starve a pool of 4 connections (${CONCURRENCY} at once per kind)`, () => {
  for (const f of families) {
    test(f.name, async () => {
      const { statuses, bystander } = await underAttack(f);
      const unexpected = statuses.filter((s) => !f.expect.includes(s.status));
      expect(unexpected.map((s) => `${s.status} ${s.body.slice(0, 160)}`)).toEqual([]);
      for (const s of statuses) if (s.status >= 400) expect(s.body).toContain('"status"');
      expect(bystander.length).toBeGreaterThan(0);
      expect(bystander.filter((b) => b.status !== 200)).toEqual([]);
      const ms = bystander.map((b) => b.ms);
      console.log(
        `${f.name}: ${statuses.length} × ${[...new Set(statuses.map((s) => s.status))].join("/")}; bystander ${ms.length} GETs, p50 ${percentile(ms, 50).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms`,
      );
      // The worker on the same pool kept its heartbeat: its row is younger than --worker-dead-after (5 s).
      const { rows } = await cluster.db.query("select extract(epoch from now() - last_seen)::float8 as age from worker_heartbeats where node_id = $1", [
        nodeId,
      ]);
      expect(rows[0]?.age).toBeLessThan(5);
    }, 60_000);
  }

  test("nothing timed out waiting for a connection, and the worker never missed a beat", async () => {
    const ready = await fetch(`${node.url}/readyz`);
    expect(ready.status).toBe(200);
    const out = node.output();
    expect(out).not.toContain("heartbeat failed");
    expect(out).not.toContain("timeout exceeded when trying to connect");
    // Every refusal that is audited was recorded: one invite.refused per used-invite attempt.
    const { rows } = await cluster.db.query("select count(*)::int as n from audit_log where action = 'invite.refused' and detail->>'state' = 'used'");
    expect(rows[0].n).toBe(CONCURRENCY);
    await until(
      "bystander still fine",
      async () => (await fetch(`${node.url}/api/v1/streams`, { headers: { authorization: `Bearer ${tokens.operator}` } })).status === 200,
    );
  });
});
