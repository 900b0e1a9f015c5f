import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, userToken } from "../support/admin.ts";
import { startCluster, type ProcessCluster } from "../support/cluster-fixture.ts";
import { runCli, type RterProcess } from "../support/rter-process.ts";

let cluster: ProcessCluster;
let node: RterProcess;

beforeAll(async () => {
  cluster = await startCluster({ RTER_FIXITY_SCHEDULE: "off" });
  node = await cluster.ready("--roles", "api");
}, 120_000);

afterAll(() => cluster?.stop());

/** A new API token of an existing user, as `rter tokens create` prints it. */
async function apiToken(email: string): Promise<string> {
  const r = await runCli(["tokens", "create", "--email", email, "--name", "script"], cluster.env);
  expect(r.code).toBe(0);
  return r.stdout.trim().split("\n").at(-1)!;
}

describe("a reporter cannot tell which workspaces exist", () => {
  test("GET /items?tag= answers an unknown tag exactly as a tag with none of their items", async () => {
    const operator = api(node.url, await userToken(node.url, cluster.env, "leak-op@city.example", "operator"));
    const reporter = api(node.url, await userToken(node.url, cluster.env, "leak-rep@city.example", "reporter"));
    expect((await operator("/api/v1/tags", { method: "POST", body: { name: "secret-raid" } })).status).toBe(201);
    const own = (await (await reporter("/api/v1/items", { method: "POST", body: { kind: "text", title: "flooded cellar", tags: ["cellars"] } })).json()) as {
      id: string;
    };

    const answers: { status: number; body: string }[] = [];
    for (const tag of ["secret-raid", "no-such-workspace", "another unknown"]) {
      const r = await reporter(`/api/v1/items?tag=${encodeURIComponent(tag)}`);
      answers.push({ status: r.status, body: await r.text() });
    }
    expect(answers).toEqual([0, 1, 2].map(() => ({ status: 200, body: "[]" })));
    // Their own workspace still lists their item.
    const mine = (await (await reporter("/api/v1/items?tag=cellars")).json()) as { id: string }[];
    expect(mine.map((i) => i.id)).toEqual([own.id]);
    // Staff, who may list every tag anyway, keep the precise 404.
    const unknown = await operator("/api/v1/items?tag=no-such-workspace");
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("content-type")).toBe("application/problem+json");
  });
});

describe("logout ends the credential that calls it, whatever its kind", () => {
  test("a session token: 204, then 401; the user's other credentials keep working", async () => {
    const session = await userToken(node.url, cluster.env, "leak-session@city.example", "viewer");
    const other = await apiToken("leak-session@city.example");
    expect((await api(node.url, session)("/api/v1/auth/logout", { method: "POST" })).status).toBe(204);
    expect((await api(node.url, session)("/api/v1/auth/me")).status).toBe(401);
    expect((await api(node.url, other)("/api/v1/auth/me")).status).toBe(200);
  });

  test("an API token: 204 and the token is revoked (401 afterwards, audited as token.revoked); others stay valid", async () => {
    const adminToken = await userToken(node.url, cluster.env, "leak-admin@city.example", "admin");
    const session = await userToken(node.url, cluster.env, "leak-script@city.example", "operator");
    const [script, spare] = [await apiToken("leak-script@city.example"), await apiToken("leak-script@city.example")];
    expect((await api(node.url, script)("/api/v1/auth/me")).status).toBe(200);
    expect((await api(node.url, script)("/api/v1/auth/logout", { method: "POST" })).status).toBe(204);
    for (const path of ["/api/v1/auth/me", "/api/v1/items"]) expect((await api(node.url, script)(path)).status).toBe(401);
    // A second logout with it is refused like any other dead credential.
    expect((await api(node.url, script)("/api/v1/auth/logout", { method: "POST" })).status).toBe(401);
    expect((await api(node.url, spare)("/api/v1/auth/me")).status).toBe(200);
    expect((await api(node.url, session)("/api/v1/auth/me")).status).toBe(200);

    const audit = (await (await api(node.url, adminToken)("/api/v1/admin/audit?action=token.revoked")).json()) as { entries: { action: string }[] };
    expect(audit.entries.length).toBe(1);
  });
});
