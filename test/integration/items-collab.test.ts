import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { json, startAppPair, type AppPair, type TestApp } from "../support/app.ts";
import { usersWithTokens } from "../support/security.ts";
import { openSse } from "../support/sse.ts";

// Comments, edits and search on items, through two API nodes sharing one database: comments and
// edits reach the other node's event clients live and are audited; search combines words (titles,
// bodies, comments), map bounds, time, reporter, kind and tag, paged by cursor.
let pair: AppPair;
let a: TestApp;
let b: TestApp;
let tokens: Record<string, string>;
const OP = "op@city.example";
const OP2 = "op2@city.example";
const ADMIN = "admin@city.example";
const R1 = "r1@city.example";
const R2 = "r2@city.example";
const V = "v@city.example";

beforeAll(async () => {
  pair = await startAppPair({ roles: "api" });
  ({ a, b } = pair);
  tokens = await usersWithTokens(a, [
    [ADMIN, "admin"],
    [OP, "operator"],
    [OP2, "operator"],
    [R1, "reporter"],
    [R2, "reporter"],
    [V, "viewer"],
  ]);
}, 60_000);
afterAll(() => pair?.stop());

const auth = (email: string) => ({ authorization: `Bearer ${tokens[email]}` });
async function call(node: TestApp, email: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await node.request(path, body === undefined ? { method, headers: auth(email) } : json(body, { method, headers: auth(email) }));
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}
const item = async (email: string, body: Record<string, unknown>) => {
  const r = await call(a, email, "POST", "/api/v1/items", { kind: "text", ...body });
  expect(r.status).toBe(201);
  return r.body.id as string;
};
const audits = (id: string) =>
  a.rt.database.db.selectFrom("audit_log").select(["action", "actor_email", "detail"]).where("target_id", "=", id).orderBy("seq").execute();

describe("comments", () => {
  test("live on the other node, audited, visible to the item's reporter, refused to others", async () => {
    const id = await item(R1, { title: "Tree down on Elm", body: "blocking both lanes" });
    const sseOp2 = openSse(`${b.url}/api/v1/events`, auth(OP2));
    const sseR1 = openSse(`${b.url}/api/v1/events`, auth(R1));
    const sseR2 = openSse(`${b.url}/api/v1/events`, auth(R2));
    expect(await sseOp2.status).toBe(200);
    expect(await sseR1.status).toBe(200);
    expect(await sseR2.status).toBe(200);
    const c = await call(a, OP, "POST", `/api/v1/items/${id}/comments`, { body: "  crew dispatched, ETA 10 min  " });
    expect(c.status).toBe(201);
    expect(c.body.body).toBe("crew dispatched, ETA 10 min");
    expect(c.body.author.email).toBe(OP);
    const ev = await sseOp2.waitFor((f) => f.event === "item.commented" && f.data.item_id === id);
    expect(ev.data.body).toBe("crew dispatched, ETA 10 min");
    await sseR1.waitFor((f) => f.event === "item.commented" && f.data.item_id === id);
    const reply = await call(b, R1, "POST", `/api/v1/items/${id}/comments`, { body: "still blocked" });
    expect(reply.status).toBe(201);
    await sseOp2.waitFor((f) => f.event === "item.commented" && f.data.comment_id === reply.body.id);
    // Reporter 2 never hears of it, cannot read it or comment on it.
    expect(sseR2.frames.some((f) => f.data?.item_id === id)).toBe(false);
    expect((await call(a, R2, "GET", `/api/v1/items/${id}/comments`)).status).toBe(404);
    expect((await call(a, R2, "POST", `/api/v1/items/${id}/comments`, { body: "x" })).status).toBe(404);
    expect((await call(a, V, "POST", `/api/v1/items/${id}/comments`, { body: "x" })).status).toBe(403);
    const list = await call(b, V, "GET", `/api/v1/items/${id}/comments`);
    expect(list.body.map((x: any) => x.body)).toEqual(["crew dispatched, ETA 10 min", "still blocked"]);
    const page2 = await call(b, R1, "GET", `/api/v1/items/${id}/comments?after=${list.body[0].id}`);
    expect(page2.body.map((x: any) => x.body)).toEqual(["still blocked"]);
    const log = await audits(id);
    expect(log.filter((l) => l.action === "item.commented").map((l) => [l.actor_email, (l.detail as any).body])).toEqual([
      [OP, "crew dispatched, ETA 10 min"],
      [R1, "still blocked"],
    ]);
    // A retried comment (same Idempotency-Key) is stored once.
    const retry = () => a.request(`/api/v1/items/${id}/comments`, json({ body: "road reopened" }, { headers: { ...auth(OP), "idempotency-key": "c-1" } }));
    const [c1, c2] = [await retry(), await retry()];
    expect([c1.status, c2.status, c2.headers.get("idempotent-replayed")]).toEqual([201, 201, "true"]);
    expect((await call(a, OP, "GET", `/api/v1/items/${id}/comments`)).body.filter((x: any) => x.body === "road reopened").length).toBe(1);
    for (const s of [sseOp2, sseR1, sseR2]) s.close();
  });

  test("hostile comment requests get precise 4xx", async () => {
    const id = await item(OP, { title: "hostile target" });
    const cases: [string, string, unknown, number][] = [
      ["POST", `/api/v1/items/${id}/comments`, {}, 400],
      ["POST", `/api/v1/items/${id}/comments`, { body: "" }, 400],
      ["POST", `/api/v1/items/${id}/comments`, { body: "   " }, 400],
      ["POST", `/api/v1/items/${id}/comments`, { body: 5 }, 400],
      ["POST", `/api/v1/items/${id}/comments`, { body: ["a"] }, 400],
      ["POST", `/api/v1/items/${id}/comments`, { body: "x".repeat(4001) }, 400],
      ["POST", `/api/v1/items/${id}/comments`, { body: "x", extra: 1 }, 400],
      ["POST", `/api/v1/items/${crypto.randomUUID()}/comments`, { body: "x" }, 404],
      ["POST", "/api/v1/items/not-an-id/comments", { body: "x" }, 400],
      ["GET", `/api/v1/items/${id}/comments?after=${crypto.randomUUID()}`, undefined, 400],
      ["GET", `/api/v1/items/${id}/comments?after=nope`, undefined, 400],
      ["GET", `/api/v1/items/${id}/comments?limit=0`, undefined, 400],
      ["GET", `/api/v1/items/${id}/comments?limit=100000`, undefined, 400],
      ["GET", `/api/v1/items/${crypto.randomUUID()}/comments`, undefined, 404],
    ];
    for (const [method, path, body, status] of cases) {
      const r = await call(a, OP, method, path, body);
      expect({ path, body, status: r.status }).toEqual({ path, body, status });
      expect(r.headers.get("content-type")).toContain("application/problem+json");
    }
  });
});

describe("edit", () => {
  test("title, body and position: audited with old and new values, live, refused while held", async () => {
    const id = await item(R1, { title: "Smoke", body: "grey", lat: 45.5, lng: -73.5 });
    const sse = openSse(`${b.url}/api/v1/events`, auth(OP2));
    expect(await sse.status).toBe(200);
    const r = await call(a, OP, "PATCH", `/api/v1/items/${id}`, { title: "Smoke on 5th", lat: 45.51, lng: -73.52 });
    expect(r.status).toBe(200);
    expect([r.body.title, r.body.body, r.body.lat, r.body.lng]).toEqual(["Smoke on 5th", "grey", 45.51, -73.52]);
    const ev = await sse.waitFor((f) => f.event === "item.updated" && f.data.item_id === id);
    expect(ev.data.changes).toEqual({ title: "Smoke on 5th", lat: 45.51, lng: -73.52 });
    const edited = (await audits(id)).filter((l) => l.action === "item.edited");
    expect(edited.map((l) => l.detail)).toEqual([{ old: { title: "Smoke", lat: 45.5, lng: -73.5 }, new: { title: "Smoke on 5th", lat: 45.51, lng: -73.52 } }]);
    // The reporter may fix their own; the same values change nothing and record nothing.
    expect((await call(b, R1, "PATCH", `/api/v1/items/${id}`, { body: "black now" })).body.body).toBe("black now");
    expect((await call(b, R1, "PATCH", `/api/v1/items/${id}`, { body: "black now" })).status).toBe(200);
    expect((await audits(id)).filter((l) => l.action === "item.edited").length).toBe(2);
    // Clearing the position.
    const cleared = await call(a, OP, "PATCH", `/api/v1/items/${id}`, { lat: null, lng: null });
    expect([cleared.body.lat, cleared.body.lng, cleared.body.position_at]).toEqual([null, null, null]);
    // Others' items, viewers.
    expect((await call(a, R2, "PATCH", `/api/v1/items/${id}`, { title: "mine now" })).status).toBe(404);
    expect((await call(a, V, "PATCH", `/api/v1/items/${id}`, { title: "x" })).status).toBe(403);
    // Held: 409 for everyone, nothing changes.
    expect((await call(a, OP, "POST", `/api/v1/items/${id}/hold`, { reason: "case 42" })).status).toBe(201);
    const refused = await call(a, ADMIN, "PATCH", `/api/v1/items/${id}`, { title: "rewritten" });
    expect(refused.status).toBe(409);
    expect((await call(a, OP, "GET", `/api/v1/items/${id}`)).body.title).toBe("Smoke on 5th");
    // A held stream's item, and a stream's position.
    const s = await call(a, R1, "POST", "/api/v1/streams", { title: "cam" });
    const streamItem = (await call(a, OP, "GET", "/api/v1/items?kind=stream")).body.find((i: any) => i.stream?.id === s.body.id);
    expect((await call(a, OP, "PATCH", `/api/v1/items/${streamItem.id}`, { lat: 1, lng: 1 })).status).toBe(409);
    expect((await call(a, OP, "PATCH", `/api/v1/items/${streamItem.id}`, { title: "camera on the bridge" })).status).toBe(200);
    expect((await call(a, OP, "POST", `/api/v1/streams/${s.body.id}/hold`, { reason: "case 43" })).status).toBe(201);
    expect((await call(a, OP, "PATCH", `/api/v1/items/${streamItem.id}`, { title: "again" })).status).toBe(409);
    sse.close();
  });

  test("hostile edits get precise 4xx", async () => {
    const id = await item(OP, { title: "edit target", lat: 1, lng: 1 });
    const cases: [unknown, number][] = [
      [{}, 400],
      [{ title: 5 }, 400],
      [{ title: "x".repeat(201) }, 400],
      [{ lat: 91, lng: 0 }, 400],
      [{ lat: 0, lng: 181 }, 400],
      [{ lat: 10 }, 400],
      [{ lat: null, lng: 3 }, 400],
      [{ heading: 400 }, 400],
      [{ title: "", body: "" }, 400],
      [{ url: "https://x.example" }, 400],
      [{ kind: "photo" }, 400],
      [[1, 2], 400],
      ["title", 400],
    ];
    for (const [body, status] of cases) {
      const r = await call(a, OP, "PATCH", `/api/v1/items/${id}`, body);
      expect({ body, status: r.status }).toEqual({ body, status });
    }
    expect((await call(a, OP, "PATCH", `/api/v1/items/${crypto.randomUUID()}`, { title: "x" })).status).toBe(404);
    expect((await call(a, OP, "PATCH", "/api/v1/items/zzz", { title: "x" })).status).toBe(400);
  });
});

describe("search", () => {
  let ids: Record<string, string>;
  test("words over titles, bodies and comments, with bounds, time, reporter, kind and tag, ANDed", async () => {
    ids = {
      bridge: await item(R1, { title: "Flooding at the bridge", body: "water over the deck", lat: 45.5, lng: -73.55, tags: ["flood"] }),
      park: await item(R2, { title: "Park flooded", body: "benches under water", lat: 45.6, lng: -73.6, tags: ["flood"] }),
      smoke: await item(R2, { title: "Smoke", body: "from the bakery", lat: 45.5, lng: -73.56 }),
      quiet: await item(OP, { title: "Road closed", body: "detour via Pine" }),
    };
    expect((await call(a, OP, "POST", `/api/v1/items/${ids.quiet}/comments`, { body: "rising water reported by a neighbour" })).status).toBe(201);
    const q = async (email: string, qs: string) => {
      const r = await call(b, email, "GET", `/api/v1/items?${qs}`);
      expect(r.status).toBe(200);
      return new Set(r.body.map((i: any) => i.id));
    };
    const mine = (s: Set<unknown>) =>
      Object.entries(ids)
        .filter(([, id]) => s.has(id))
        .map(([k]) => k)
        .sort();
    expect(mine(await q(OP, "q=water"))).toEqual(["bridge", "park", "quiet"]); // the comment counts
    expect(mine(await q(OP, "q=flooded"))).toEqual(["park"]); // no stemming: exact words
    expect(mine(await q(OP, `q=${encodeURIComponent('"water over"')}`))).toEqual(["bridge"]);
    expect(mine(await q(OP, "q=water%20-benches"))).toEqual(["bridge", "quiet"]);
    expect(mine(await q(OP, "bbox=-73.57,45.49,-73.54,45.51"))).toEqual(["bridge", "smoke"]);
    expect(mine(await q(OP, "q=water&bbox=-73.57,45.49,-73.54,45.51"))).toEqual(["bridge"]);
    expect(mine(await q(OP, `reporter=${encodeURIComponent(R2)}`))).toEqual(["park", "smoke"]);
    expect(mine(await q(OP, `reporter=${encodeURIComponent(R2)}&tag=flood`))).toEqual(["park"]);
    expect(mine(await q(OP, "kind=text&q=smoke"))).toEqual(["smoke"]);
    expect(mine(await q(OP, "kind=photo&q=smoke"))).toEqual([]);
    const future = new Date(Date.now() + 3600_000).toISOString();
    expect(mine(await q(OP, `from=${encodeURIComponent(future)}`))).toEqual([]);
    expect(mine(await q(OP, `to=${encodeURIComponent(future)}&q=smoke`))).toEqual(["smoke"]);
    // Reporters search only their own items.
    expect(mine(await q(R1, "q=water"))).toEqual(["bridge"]);
    expect(mine(await q(R2, "q=water"))).toEqual(["park"]);
    // The plain listing is unchanged: workspace order with ?tag= alone.
    const ws = await call(b, OP, "GET", "/api/v1/items?tag=flood");
    expect(ws.body.map((i: any) => i.id)).toEqual([ids.bridge, ids.park]);
    expect(ws.headers.get("x-next-cursor")).toBeNull();
  });

  test("keyset paging walks every match once, newest first", async () => {
    for (let i = 0; i < 7; i++) await item(OP, { title: `paging probe ${i}` });
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let n = 0; n < 10; n++) {
      const r = await call(a, OP, "GET", `/api/v1/items?q=probe&limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...r.body.map((i: any) => i.title));
      cursor = r.headers.get("x-next-cursor");
      if (!cursor) break;
    }
    expect(seen).toEqual([6, 5, 4, 3, 2, 1, 0].map((i) => `paging probe ${i}`));
  });

  test("hostile searches get precise 4xx", async () => {
    const cases: [string, number][] = [
      ["q=", 400],
      ["q=%20%20", 400],
      [`q=${"x".repeat(201)}`, 400],
      ["bbox=1,2,3", 400],
      ["bbox=a,b,c,d", 400],
      ["bbox=-200,0,10,10", 400],
      ["bbox=0,-91,10,10", 400],
      ["bbox=0,10,10,0", 400],
      ["bbox=10,0,0,10", 400],
      ["bbox=1e3,0,10,10", 400],
      ["from=yesterday", 400],
      [`from=${encodeURIComponent("2026-02-01T00:00:00Z")}&to=${encodeURIComponent("2026-01-01T00:00:00Z")}`, 400],
      ["kind=video", 400],
      ["limit=0", 400],
      ["limit=5000", 400],
      ["cursor=abc", 400],
      [`cursor=${"1".repeat(40)}_x`, 400],
      [`reporter=${"x".repeat(300)}`, 400],
      ["q=smoke&tag=no-such-workspace", 404],
    ];
    for (const [qs, status] of cases) {
      const r = await call(a, OP, "GET", `/api/v1/items?${qs}`);
      expect({ qs, status: r.status }).toEqual({ qs, status });
      expect(r.headers.get("content-type")).toContain("application/problem+json");
    }
    // Query syntax that is not an error: nothing, or everything it names.
    for (const qs of ["q=%26%26%7C%7C!!", "q=%27", "q=a%3A*", `reporter=${crypto.randomUUID()}`])
      expect((await call(a, OP, "GET", `/api/v1/items?${qs}`)).status).toBe(200);
  });
});
