import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { json, startAppPair, type AppPair, type TestApp } from "../support/app.ts";
import { usersWithTokens } from "../support/security.ts";
import { openSse } from "../support/sse.ts";

// Items, tags, workspace ranking, automatic tagging rules and guidance, through the API of two
// nodes sharing one database, with their events.
let pair: AppPair;
let a: TestApp;
let b: TestApp;
let tokens: Record<string, string>;

beforeAll(async () => {
  pair = await startAppPair({ roles: "api", "map-tile-url": "/tiles/{z}/{x}/{y}.png" });
  ({ a, b } = pair);
  tokens = await usersWithTokens(a, [
    ["admin@city.example", "admin"],
    ["op@city.example", "operator"],
    ["r1@city.example", "reporter"],
    ["r2@city.example", "reporter"],
    ["v@city.example", "viewer"],
  ]);
}, 60_000);
afterAll(() => pair?.stop());

const auth = (email: string) => ({ authorization: `Bearer ${tokens[email]}` });
async function call(node: TestApp, email: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const init: RequestInit = body === undefined ? { method, headers: auth(email) } : json(body, { method, headers: auth(email) });
  const res = await node.request(path, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

describe("items and workspaces", () => {
  test("a stream is an item from its creation, with its tags; its position follows telemetry", async () => {
    const s = await call(a, "r1@city.example", "POST", "/api/v1/streams", { title: "bridge", tags: ["flood"] });
    expect(s.status).toBe(201);
    const items = await call(b, "op@city.example", "GET", "/api/v1/items?tag=flood");
    expect(items.status).toBe(200);
    const item = items.body.find((i: any) => i.stream?.id === s.body.id);
    expect(item.kind).toBe("stream");
    expect(item.tags.map((t: any) => t.name)).toEqual(["flood"]);
    const t0 = Date.now();
    expect(
      (
        await call(a, "r1@city.example", "POST", `/api/v1/streams/${s.body.id}/telemetry`, {
          samples: [
            { t: t0, lat: 45.5, lng: -73.57, heading: 90 },
            { t: t0 - 1000, lat: 1, lng: 1 },
          ],
        })
      ).status,
    ).toBe(200);
    const again = await call(a, "op@city.example", "GET", `/api/v1/items/${item.id}`);
    expect([again.body.lat, again.body.lng, again.body.heading]).toEqual([45.5, -73.57, 90]);
    // Reporters see only their own items.
    expect((await call(a, "r2@city.example", "GET", `/api/v1/items/${item.id}`)).status).toBe(404);
    expect((await call(a, "r1@city.example", "GET", `/api/v1/items/${item.id}`)).status).toBe(200);
  });

  test("text reports, links and photos; bad input is 400/415, viewers cannot write", async () => {
    const text = await call(a, "r2@city.example", "POST", "/api/v1/items", {
      kind: "text",
      title: "Smoke on 5th",
      body: "thick black smoke",
      lat: 45.51,
      lng: -73.56,
      tags: ["fire"],
    });
    expect(text.status).toBe(201);
    expect(text.body.tags.map((t: any) => t.name)).toEqual(["fire"]);
    const link = await call(a, "op@city.example", "POST", "/api/v1/items", { kind: "link", title: "", url: "https://news.example/fire" });
    expect(link.status).toBe(201);
    expect(link.body.title).toBe("https://news.example/fire");
    expect((await call(a, "op@city.example", "POST", "/api/v1/items", { kind: "link", title: "x", url: "javascript:alert(1)" })).status).toBe(400);
    expect((await call(a, "op@city.example", "POST", "/api/v1/items", { kind: "text", title: "x", lat: 1 })).status).toBe(400);
    expect((await call(a, "v@city.example", "POST", "/api/v1/items", { kind: "text", title: "x" })).status).toBe(403);

    const png = Uint8Array.from(atob("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="), (c) =>
      c.charCodeAt(0),
    );
    const photo = await a.request("/api/v1/items/photos?title=Roof&lat=45.5&lng=-73.5", {
      method: "POST",
      headers: { ...auth("r2@city.example"), "content-type": "image/png" },
      body: png,
    });
    expect(photo.status).toBe(201);
    const p = (await photo.json()) as any;
    expect(p.kind).toBe("photo");
    const got = await b.request(p.photo_url, { headers: auth("op@city.example") });
    expect(got.status).toBe(200);
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(png);
    const wrong = await a.request("/api/v1/items/photos", { method: "POST", headers: { ...auth("r2@city.example"), "content-type": "image/jpeg" }, body: png });
    expect(wrong.status).toBe(415);
  });

  test("tagging and ranking are events every node's clients see; the order is shared", async () => {
    const sse = openSse(`${b.url}/api/v1/events`, auth("op@city.example"));
    expect(await sse.status).toBe(200);
    const ids: string[] = [];
    for (const title of ["one", "two", "three"])
      ids.push((await call(a, "op@city.example", "POST", "/api/v1/items", { kind: "text", title, tags: ["triage"] })).body.id);
    const list = async () => (await call(b, "op@city.example", "GET", "/api/v1/items?tag=triage")).body.map((i: any) => i.id);
    expect(await list()).toEqual(ids);
    const r = await call(a, "op@city.example", "PUT", "/api/v1/tags/triage/order", { items: [ids[2], ids[0]] });
    expect(r.status).toBe(200);
    expect(r.body.items).toEqual([ids[2], ids[0], ids[1]]);
    expect(await list()).toEqual([ids[2], ids[0], ids[1]]);
    const ev = await sse.waitFor((f) => f.event === "rank.changed" && f.data.tag === "triage");
    expect(ev.data.items).toEqual([ids[2], ids[0], ids[1]]);

    const tagged = await call(a, "op@city.example", "POST", `/api/v1/items/${ids[1]}/tags`, { tag: "Priority" });
    expect(tagged.body.tags.map((t: any) => t.name).sort()).toEqual(["Priority", "triage"]);
    await sse.waitFor((f) => f.event === "tag.created" && f.data.tag === "Priority");
    await sse.waitFor((f) => f.event === "tag.added" && f.data.tag === "Priority" && f.data.item_id === ids[1]);
    const untag = await call(a, "op@city.example", "DELETE", `/api/v1/items/${ids[1]}/tags/Priority`);
    expect(untag.body.tags.map((t: any) => t.name)).toEqual(["triage"]);
    await sse.waitFor((f) => f.event === "tag.removed" && f.data.item_id === ids[1]);
    expect((await call(a, "r1@city.example", "PUT", "/api/v1/tags/triage/order", { items: [] })).status).toBe(403);
    expect((await call(a, "op@city.example", "GET", "/api/v1/items?tag=nope")).status).toBe(404);
    const tags = (await call(a, "v@city.example", "GET", "/api/v1/tags")).body;
    expect(tags.find((t: any) => t.name === "triage").items).toBe(3);
    sse.close();
  });

  test("automatic tagging: keyword and geofence rules tag new and existing items, and streams as they move", async () => {
    const sse = openSse(`${a.url}/api/v1/events`, auth("op@city.example"));
    await sse.status;
    const before = await call(a, "op@city.example", "POST", "/api/v1/items", { kind: "text", title: "Gas leak reported", body: "" });
    expect((await call(a, "op@city.example", "POST", "/api/v1/tags/hazmat/rules", { kind: "keyword", keyword: "gas" })).status).toBe(403);
    const rule = await call(a, "admin@city.example", "POST", "/api/v1/tags/hazmat/rules", { kind: "keyword", keyword: "GAS" });
    expect(rule.status).toBe(201);
    expect((await call(a, "op@city.example", "GET", `/api/v1/items/${before.body.id}`)).body.tags.map((t: any) => t.name)).toEqual(["hazmat"]);
    const after = await call(b, "r1@city.example", "POST", "/api/v1/items", { kind: "text", title: "smell of gas near school" });
    expect(after.body.tags.map((t: any) => t.name)).toEqual(["hazmat"]);
    await sse.waitFor((f) => f.event === "tag.added" && f.data.item_id === after.body.id && f.data.auto === true);

    // A square around downtown, given as [lat, lng] points.
    const zone = [
      [45.49, -73.59],
      [45.49, -73.55],
      [45.52, -73.55],
      [45.52, -73.59],
    ];
    const geo = await call(a, "admin@city.example", "POST", "/api/v1/tags/downtown/rules", { kind: "geofence", polygon: zone });
    expect(geo.status).toBe(201);
    expect(geo.body.polygon).toEqual(zone);
    const s = await call(a, "r2@city.example", "POST", "/api/v1/streams", { title: "walking" });
    const item = (await call(a, "op@city.example", "GET", "/api/v1/items")).body.find((i: any) => i.stream?.id === s.body.id);
    expect(item.tags).toEqual([]);
    await call(a, "r2@city.example", "POST", `/api/v1/streams/${s.body.id}/telemetry`, { samples: [{ t: Date.now(), lat: 45.6, lng: -73.7 }] });
    expect((await call(a, "op@city.example", "GET", `/api/v1/items/${item.id}`)).body.tags).toEqual([]);
    await call(a, "r2@city.example", "POST", `/api/v1/streams/${s.body.id}/telemetry`, { samples: [{ t: Date.now() + 1, lat: 45.5, lng: -73.57 }] });
    await sse.waitFor((f) => f.event === "tag.added" && f.data.item_id === item.id && f.data.tag === "downtown");
    const rules = await call(a, "op@city.example", "GET", "/api/v1/tags/downtown/rules");
    expect(rules.body.length).toBe(1);
    expect((await call(a, "admin@city.example", "DELETE", `/api/v1/tags/downtown/rules/${rules.body[0].id}`)).status).toBe(204);
    sse.close();
  });

  test("guidance reaches the stream's reporter (and only them) as an event; operators set and clear it", async () => {
    const s = await call(a, "r1@city.example", "POST", "/api/v1/streams", { title: "guided" });
    const mine = openSse(`${b.url}/api/v1/events`, auth("r1@city.example"));
    const other = openSse(`${b.url}/api/v1/events`, auth("r2@city.example"));
    await Promise.all([mine.status, other.status]);
    expect((await call(a, "r1@city.example", "PUT", `/api/v1/streams/${s.body.id}/guidance`, { message: "hi" })).status).toBe(403);
    expect((await call(a, "op@city.example", "PUT", `/api/v1/streams/${s.body.id}/guidance`, {})).status).toBe(400);
    const t0 = Date.now();
    const g = await call(a, "op@city.example", "PUT", `/api/v1/streams/${s.body.id}/guidance`, { lat: 45.501, lng: -73.567, message: "Point at the bridge" });
    expect(g.status).toBe(200);
    const ev = await mine.waitFor((f) => f.event === "guidance.set" && f.data.stream_id === s.body.id);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(ev.data).toMatchObject({ lat: 45.501, lng: -73.567, message: "Point at the bridge", by: "op@city.example" });
    expect((await call(b, "r1@city.example", "GET", `/api/v1/streams/${s.body.id}/guidance`)).body.message).toBe("Point at the bridge");
    expect((await call(a, "op@city.example", "DELETE", `/api/v1/streams/${s.body.id}/guidance`)).status).toBe(204);
    await mine.waitFor((f) => f.event === "guidance.cleared" && f.data.stream_id === s.body.id);
    expect((await call(b, "r1@city.example", "GET", `/api/v1/streams/${s.body.id}/guidance`)).body).toBeNull();
    expect(other.frames.some((f) => f.event?.startsWith("guidance"))).toBe(false);
    mine.close();
    other.close();
  });

  test("ui-config tells the pages the map tile URL", async () => {
    const r = await a.request("/api/v1/ui-config");
    expect(r.status).toBe(200);
    expect(((await r.json()) as any).map_tile_url).toBe("/tiles/{z}/{x}/{y}.png");
  });
});
