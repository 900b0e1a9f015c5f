import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { json, startAppPair, type AppPair, type TestApp } from "../support/app.ts";
import { usersWithTokens } from "../support/security.ts";
import { openSse } from "../support/sse.ts";

// Direction lock: the operator guiding a reporter holds it; another operator's guidance is a 409
// naming the holder until they take over explicitly (audited, announced on both nodes).
let pair: AppPair;
let a: TestApp;
let b: TestApp;
let tokens: Record<string, string>;
const OP = "op@city.example";
const OP2 = "op2@city.example";
const R1 = "r1@city.example";
const V = "v@city.example";

beforeAll(async () => {
  pair = await startAppPair({ roles: "api" });
  ({ a, b } = pair);
  tokens = await usersWithTokens(a, [
    [OP, "operator"],
    [OP2, "operator"],
    [R1, "reporter"],
    [V, "viewer"],
  ]);
}, 60_000);
afterAll(() => pair?.stop());

const auth = (email: string) => ({ authorization: `Bearer ${tokens[email]}` });
async function call(node: TestApp, email: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await node.request(path, body === undefined ? { method, headers: auth(email) } : json(body, { method, headers: auth(email) }));
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

describe("direction lock", () => {
  test("first guidance takes it, the other operator is refused naming the holder, takeover is explicit and audited", async () => {
    const s = await call(a, R1, "POST", "/api/v1/streams", { title: "lock" });
    expect(s.status).toBe(201);
    const id = s.body.id as string;
    const lockPath = `/api/v1/streams/${id}/guidance/lock`;
    expect((await call(a, OP, "GET", lockPath)).body.holder).toBeNull();
    const watch = openSse(`${b.url}/api/v1/events`, auth(OP2));
    const reporter = openSse(`${b.url}/api/v1/events`, auth(R1));
    expect(await watch.status).toBe(200);
    expect(await reporter.status).toBe(200);

    expect((await call(a, OP, "PUT", `/api/v1/streams/${id}/guidance`, { heading: 90, message: "east" })).status).toBe(200);
    expect((await call(b, OP2, "GET", lockPath)).body.holder.email).toBe(OP);
    await watch.waitFor((f) => f.event === "guidance.locked" && f.data.stream_id === id && f.data.holder?.email === OP);

    // Every way the second operator could steer without the lock is refused, naming the holder.
    for (const [method, path, body] of [
      ["PUT", `/api/v1/streams/${id}/guidance`, { heading: 270, message: "west" }],
      ["DELETE", `/api/v1/streams/${id}/guidance`, undefined],
      ["PUT", lockPath, {}],
      ["PUT", lockPath, { takeover: false }],
    ] as const) {
      const r = await call(b, OP2, method, path, body);
      expect(r.status).toBe(409);
      expect(r.body.holder.email).toBe(OP);
      expect(r.body.detail ?? r.body.title).toBeTruthy();
    }
    expect((await call(a, OP, "GET", `/api/v1/streams/${id}/guidance`)).body.message).toBe("east");
    // Releasing someone else's lock changes nothing; viewers and reporters cannot touch it.
    expect((await call(b, OP2, "DELETE", lockPath)).status).toBe(204);
    expect((await call(a, OP, "GET", lockPath)).body.holder.email).toBe(OP);
    expect((await call(a, V, "PUT", lockPath, { takeover: true })).status).toBe(403);
    expect((await call(a, R1, "PUT", lockPath, { takeover: true })).status).toBe(403);
    expect((await call(a, R1, "GET", lockPath)).status).toBe(403);
    expect((await call(a, OP, "PUT", lockPath, { takeover: "yes" })).status).toBe(400);

    const taken = await call(b, OP2, "PUT", lockPath, { takeover: true });
    expect(taken.status).toBe(200);
    expect(taken.body.holder.email).toBe(OP2);
    const ev = await watch.waitFor((f) => f.event === "guidance.locked" && f.data.stream_id === id && f.data.holder?.email === OP2);
    expect(ev.data.takeover).toBe(true);
    expect(ev.data.previous.email).toBe(OP);
    const log = await a.rt.database.db
      .selectFrom("audit_log")
      .select(["action", "actor_email", "detail"])
      .where("target_id", "=", id)
      .where("action", "=", "guidance.lock_taken_over")
      .execute();
    expect(log).toHaveLength(1);
    expect(log[0]!.actor_email).toBe(OP2);
    expect((log[0]!.detail as any).previous_holder.email).toBe(OP);

    // Now the first operator is the one refused; the new holder guides.
    const refused = await call(a, OP, "PUT", `/api/v1/streams/${id}/guidance`, { heading: 0 });
    expect(refused.status).toBe(409);
    expect(refused.body.holder.email).toBe(OP2);
    expect((await call(b, OP2, "PUT", `/api/v1/streams/${id}/guidance`, { heading: 270, message: "west" })).status).toBe(200);
    // The holder lets go: the lock is free and the next guidance takes it without a takeover.
    expect((await call(b, OP2, "DELETE", lockPath)).status).toBe(204);
    expect((await call(a, OP, "GET", lockPath)).body.holder).toBeNull();
    expect((await call(a, OP, "PUT", `/api/v1/streams/${id}/guidance`, { heading: 10 })).status).toBe(200);
    // The reporter hears guidance but never lock traffic.
    expect(reporter.frames.some((f) => f.event === "guidance.locked")).toBe(false);
    watch.close();
    reporter.close();
  }, 60_000);

  test("two operators racing for a free lock: exactly one wins", async () => {
    const s = await call(a, R1, "POST", "/api/v1/streams", { title: "race" });
    const id = s.body.id as string;
    const results = await Promise.all([
      ...Array.from({ length: 5 }, () => call(a, OP, "PUT", `/api/v1/streams/${id}/guidance`, { heading: 1 })),
      ...Array.from({ length: 5 }, () => call(b, OP2, "PUT", `/api/v1/streams/${id}/guidance`, { heading: 2 })),
    ]);
    const ok = results.filter((r) => r.status === 200);
    const conflict = results.filter((r) => r.status === 409);
    expect(ok.length + conflict.length).toBe(10);
    const winners = new Set(ok.map((r) => r.body.by));
    expect(winners.size).toBe(1);
    expect(conflict.every((r) => r.body.holder.email === [...winners][0])).toBe(true);
  }, 30_000);
});
