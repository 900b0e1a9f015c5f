import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { json, startAppPair, type AppPair, type TestApp } from "../support/app.ts";
import { usersWithTokens } from "../support/security.ts";
import { openSse } from "../support/sse.ts";

let pair: AppPair;
let a: TestApp;
let b: TestApp;
let tokens: Record<string, string>;

beforeAll(async () => {
  pair = await startAppPair({ roles: "api" });
  ({ a, b } = pair);
  tokens = await usersWithTokens(a, [
    ["op@city.example", "operator"],
    ["r1@city.example", "reporter"],
    ["r2@city.example", "reporter"],
  ]);
}, 60_000);
afterAll(() => pair?.stop());

const auth = (email: string) => ({ authorization: `Bearer ${tokens[email]}` });
async function create(node: TestApp, email: string, title: string): Promise<string> {
  const res = await node.request("/api/v1/streams", json({ title }, { headers: auth(email) }));
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

describe("events across API nodes", () => {
  test("an operator on node A sees a stream created through node B, in order, with increasing ids", async () => {
    const sse = openSse(`${a.url}/api/v1/events`, auth("op@city.example"));
    expect(await sse.status).toBe(200);
    const id1 = await create(b, "r1@city.example", "first");
    const id2 = await create(b, "r2@city.example", "second");
    const f1 = await sse.waitFor((f) => f.data?.stream_id === id1);
    const f2 = await sse.waitFor((f) => f.data?.stream_id === id2);
    expect(f1.event).toBe("stream.created");
    expect(f1.data.title).toBe("first");
    expect(BigInt(f2.id!)).toBeGreaterThan(BigInt(f1.id!));
    sse.close();
  });

  test("a client reconnecting with Last-Event-ID receives every event it missed", async () => {
    const first = openSse(`${a.url}/api/v1/events`, auth("op@city.example"));
    await first.status;
    const before = await create(b, "r1@city.example", "before");
    const seen = await first.waitFor((f) => f.data?.stream_id === before);
    first.close();
    const missed = [await create(b, "r1@city.example", "m1"), await create(a, "r2@city.example", "m2")];
    await b.request(`/api/v1/streams/${missed[0]}/finish`, { method: "POST", headers: auth("r1@city.example") });
    const again = openSse(`${b.url}/api/v1/events`, { ...auth("op@city.example"), "last-event-id": seen.id! });
    await again.waitFor((f) => f.event === "stream.finished" && f.data.stream_id === missed[0]);
    const got = again.frames.map((f) => [f.event, f.data.stream_id]);
    expect(got).toEqual([
      ["stream.created", missed[0]],
      ["stream.created", missed[1]],
      ["stream.finished", missed[0]],
    ]);
    again.close();
  });

  test("a reporter sees only events of their own streams; bad Last-Event-ID is 400; no token is 401", async () => {
    const sse = openSse(`${a.url}/api/v1/events`, auth("r1@city.example"));
    await sse.status;
    const other = await create(b, "r2@city.example", "not yours");
    const mine = await create(b, "r1@city.example", "yours");
    await sse.waitFor((f) => f.data?.stream_id === mine);
    expect(sse.frames.some((f) => f.data?.stream_id === other)).toBe(false);
    sse.close();
    expect((await a.request("/api/v1/events", { headers: { ...auth("op@city.example"), "last-event-id": "abc" } })).status).toBe(400);
    expect((await a.request("/api/v1/events")).status).toBe(401);
  });
});
