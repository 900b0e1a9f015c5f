import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { json, startTestApp, type TestApp } from "../support/app.ts";
import { makeCmaf } from "../support/cmaf.ts";
import { contentTypeOf, makeChunks } from "../support/media.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { usersWithTokens } from "../support/security.ts";

// The incident timeline over real segments made by the worker: lanes with spans and gaps on the
// capture clock, marks, tag filter, reporters' view, paging and bounds.
let app: TestApp;
let minio: TestMinio;
let tokens: Record<string, string>;
const OP = "op@city.example";
const R1 = "r1@city.example";
const R2 = "r2@city.example";
const t0 = Math.floor((Date.now() - 2 * 3600_000) / 1000) * 1000;
const iso = (ms: number) => new Date(ms).toISOString();

beforeAll(async () => {
  minio = await startMinio();
  app = await startTestApp({ "database-url": await testDatabaseUrl(), "storage-url": minio.url, roles: "api,worker", "gap-wait": "1s" });
  tokens = await usersWithTokens(app, [
    [OP, "operator"],
    [R1, "reporter"],
    [R2, "reporter"],
  ]);
}, 120_000);
afterAll(async () => {
  await app?.stop();
  await minio?.stop();
});

const auth = (email: string) => ({ authorization: `Bearer ${tokens[email]}` });
async function call(email: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; type: string | null }> {
  const res = await app.request(path, body === undefined ? { method, headers: auth(email) } : json(body, { method, headers: auth(email) }));
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, type: res.headers.get("content-type") };
}

/** A stream whose chunks were captured at the given offsets from t0 (1 s each); waits for its segments. */
async function streamAt(email: string, title: string, offsetsSec: number[], tags: string[] = []): Promise<string> {
  const s = await call(email, "POST", "/api/v1/streams", { title, tags });
  expect(s.status).toBe(201);
  const chunks = await makeChunks("ts-h264-aac", offsetsSec.length, 1, "160x120");
  for (const [seq, bytes] of chunks.entries()) {
    const r = await app.request(`/api/v1/streams/${s.body.id}/chunks/${seq}`, {
      method: "PUT",
      headers: { ...auth(email), "content-type": contentTypeOf("ts-h264-aac"), "x-chunk-start": String(t0 + offsetsSec[seq]! * 1000) },
      body: bytes,
    });
    expect(r.status).toBe(201);
  }
  const started = Date.now();
  for (;;) {
    const st = await call(OP, "GET", `/api/v1/streams/${s.body.id}`);
    if (st.body.segments >= offsetsSec.length) break;
    if (Date.now() - started > 90_000) throw new Error(`segments of ${title} not made: ${JSON.stringify(st.body)}`);
    await Bun.sleep(200);
  }
  return s.body.id;
}

let a: string;
let b: string;
let cmaf: string;
// The window covers the capture times; streams were created "now", so it must include now too.
const window = () => `from=${encodeURIComponent(iso(t0 - 60_000))}&to=${encodeURIComponent(iso(Date.now() + 60_000))}`;

describe("timeline", () => {
  test("a lane per stream with its spans and gaps on the capture clock, items and guidance as marks", async () => {
    // t0 + 0..2 s, a hole, then t0 + 10..11 s.
    a = await streamAt(R1, "bridge", [0, 1, 10], ["flood"]);
    b = await streamAt(R2, "river", [3, 4]);
    expect((await call(OP, "PUT", `/api/v1/streams/${a}/guidance`, { heading: 200, message: "look north" })).status).toBe(200);
    // A CMAF stream (parts listed as they come, no worker involved) is a lane too.
    const c = await call(R2, "POST", "/api/v1/streams", { title: "phone" });
    const media = await makeCmaf({ seconds: 2, size: "160x120" });
    expect(
      (await app.request(`/api/v1/streams/${c.body.id}/init`, { method: "PUT", headers: { ...auth(R2), "content-type": "video/mp4" }, body: media.init }))
        .status,
    ).toBe(201);
    for (const [seq, bytes] of media.chunks.entries()) {
      const r = await app.request(`/api/v1/streams/${c.body.id}/chunks/${seq}`, {
        method: "PUT",
        headers: { ...auth(R2), "content-type": "video/iso.segment", "x-chunk-start": String(t0 + 20_000 + seq * 250) },
        body: bytes,
      });
      expect(r.status).toBe(201);
    }
    const note = await call(R1, "POST", "/api/v1/items", { kind: "text", title: "water rising", lat: 45.5, lng: -73.56, tags: ["flood"] });
    expect(note.status).toBe(201);

    const r = await call(OP, "GET", `/api/v1/timeline?${window()}`);
    expect({ status: r.status, body: r.status === 200 ? null : r.body }).toEqual({ status: 200, body: null });
    const la = r.body.lanes.find((l: any) => l.stream_id === a);
    const lb = r.body.lanes.find((l: any) => l.stream_id === b);
    expect(la.reporter).toBe(R1);
    expect(la.tags).toEqual(["flood"]);
    expect(la.spans.length).toBe(2);
    expect(Date.parse(la.spans[0].from)).toBeCloseTo(t0, -3);
    expect(Date.parse(la.spans[1].from)).toBeCloseTo(t0 + 10_000, -3);
    expect(la.gaps).toEqual([{ from: la.spans[0].to, to: la.spans[1].from }]);
    expect(lb.spans.length).toBe(1);
    expect(lb.gaps).toEqual([]);
    cmaf = c.body.id;
    const lc = r.body.lanes.find((l: any) => l.stream_id === c.body.id);
    expect(lc.media_format).toBe("cmaf");
    expect(lc.spans.length).toBe(1);
    expect(Date.parse(lc.spans[0].to) - Date.parse(lc.spans[0].from)).toBeGreaterThan(1500);
    expect(la.spans.every((s: any) => s.live === false)).toBe(true); // captured long ago, not reaching now
    const types = r.body.marks.map((m: any) => `${m.type}:${m.title}`);
    expect(types).toContain("item:water rising");
    expect(types).toContain("guidance:look north");
    expect(r.body.marks_truncated).toBe(false);
  }, 180_000);

  test("tag filter, reporters see their own, paging by cursor", async () => {
    const tagged = await call(OP, "GET", `/api/v1/timeline?${window()}&tag=flood`);
    expect(tagged.body.lanes.map((l: any) => l.stream_id)).toEqual([a]);
    expect(tagged.body.marks.map((m: any) => m.title).sort()).toEqual(["look north", "water rising"]);

    const r2 = await call(R2, "GET", `/api/v1/timeline?${window()}`);
    expect(r2.status).toBe(200);
    expect(r2.body.lanes.map((l: any) => l.stream_id)).toEqual([b, cmaf]);
    expect(r2.body.marks).toEqual([]);

    const p1 = await call(OP, "GET", `/api/v1/timeline?${window()}&limit=1`);
    expect(p1.body.lanes.map((l: any) => l.stream_id)).toEqual([a]);
    expect(p1.body.next_cursor).toBeString();
    const p2 = await call(OP, "GET", `/api/v1/timeline?${window()}&limit=1&cursor=${p1.body.next_cursor}`);
    expect(p2.body.lanes.map((l: any) => l.stream_id)).toEqual([b]);
    expect(p2.body.marks).toEqual([]);
    const p3 = await call(OP, "GET", `/api/v1/timeline?${window()}&limit=1&cursor=${p2.body.next_cursor}`);
    expect(p3.body.lanes.map((l: any) => l.stream_id)).toEqual([cmaf]);
    expect(p3.body.next_cursor).toBeNull();

    const before = await call(OP, "GET", `/api/v1/timeline?from=${iso(t0 - 7200_000)}&to=${iso(t0 - 3600_000)}`);
    expect(before.body.lanes).toEqual([]);
  });

  test("marks beyond 2000 continue with marks_cursor, none lost or repeated", async () => {
    // Fixture rows: 2100 reports in a quiet 100-s window two hours ago.
    const db = app.rt.database.db;
    const author = (await db.selectFrom("users").select("id").where("email", "=", R1).executeTakeFirstOrThrow()).id;
    const base = t0 + 100_000;
    await db
      .insertInto("items")
      .values(
        Array.from({ length: 2100 }, (_, i) => ({
          kind: "text",
          author_id: author,
          title: `report ${i}`,
          created_at: new Date(base + Math.floor(i / 3) * 100),
        })),
      )
      .execute();
    const w = `from=${encodeURIComponent(iso(base))}&to=${encodeURIComponent(iso(base + 100_000))}`;
    const first = await call(OP, "GET", `/api/v1/timeline?${w}`);
    expect(first.body.marks.length).toBe(2000);
    expect(first.body.marks_truncated).toBe(true);
    const rest = await call(OP, "GET", `/api/v1/timeline?${w}&marks_cursor=${first.body.next_marks_cursor}`);
    expect(rest.body.marks.length).toBe(100);
    expect(rest.body.marks_truncated).toBe(false);
    expect(rest.body.next_marks_cursor).toBeNull();
    const titles = [...first.body.marks, ...rest.body.marks].map((m: any) => m.title);
    expect(new Set(titles).size).toBe(2100);
    const ats = [...first.body.marks, ...rest.body.marks].map((m: any) => Date.parse(m.at));
    expect(ats).toEqual([...ats].sort((x, y) => x - y));
    expect((await call(OP, "GET", `/api/v1/timeline?${w}&marks_cursor=x_y`)).status).toBe(400);
  });

  test("hostile queries get precise 4xx", async () => {
    const w = (from: number, to: number) => `from=${encodeURIComponent(iso(from))}&to=${encodeURIComponent(iso(to))}`;
    const cases: [string, number][] = [
      ["", 400],
      [`from=${encodeURIComponent(iso(t0))}`, 400],
      [`${w(t0 + 1000, t0)}`, 400],
      [`${w(t0, t0)}`, 400],
      [`${w(t0, t0 + 8 * 24 * 3600_000)}`, 400],
      ["from=yesterday&to=today", 400],
      [`${w(t0, t0 + 1000)}&limit=0`, 400],
      [`${w(t0, t0 + 1000)}&limit=100000`, 400],
      [`${w(t0, t0 + 1000)}&limit=abc`, 400],
      [`${w(t0, t0 + 1000)}&cursor=${"9".repeat(300)}`, 400],
      [`${w(t0, t0 + 1000)}&cursor=1_x`, 400],
      [`${w(t0, t0 + 1000)}&tag=nope`, 404],
      [`${w(t0, t0 + 1000)}&tag=${"a/b"}`, 400],
    ];
    for (const [q, status] of cases) {
      const r = await call(OP, "GET", `/api/v1/timeline?${q}`);
      expect({ q, status: r.status }).toEqual({ q, status });
      expect(r.type).toContain("application/problem+json");
    }
  });
});
