import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { ACCESS } from "../../core/auth/access-matrix.ts";
import { json, startTestApp, type TestApp } from "../support/app.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { bearer, call, createStream, makeCast, objectsUnder, type Cast } from "../support/security.ts";

let app: TestApp;
let minio: TestMinio;
let cast: Cast;
let stream: string;

beforeAll(async () => {
  minio = await startMinio();
  app = await startTestApp({
    "database-url": await testDatabaseUrl(),
    "storage-url": minio.url,
    roles: "api",
    "idle-timeout": "2s",
    "max-chunk-bytes": "1MiB",
    "rate-limit-login": "1000/1m",
  });
  cast = await makeCast(app);
  stream = await createStream(app, cast.tokens.admin, "target");
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await minio?.stop();
});

const HOSTILE: Record<string, string> = {
  sql: "'; DROP TABLE users; -- \" OR 1=1",
  html: '<script>alert(1)</script><img src=x onerror="alert(2)">',
  traversal: "../../../../etc/passwd",
  nul: "before\u0000after",
  "long unicode": "ü𝕏😀ﷺ".repeat(2500),
  "bidi and control": "\u202egnp.exe\u0007\u001b[31m",
};

async function userCount() {
  const r = await app.rt.database.db
    .selectFrom("users")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** A stored value comes back byte for byte in JSON (inert), or the input was refused with 400. */
async function storedOrRefused(what: string, res: Response, readBack: () => Promise<unknown>, sent: string, problems: string[]) {
  if (res.status >= 500) return void problems.push(`${what}: ${res.status} ${await res.text()}`);
  if (res.status === 400 || res.status === 413) {
    if (res.headers.get("content-type") !== "application/problem+json") problems.push(`${what}: 400 without problem+json`);
    return;
  }
  if (res.status >= 300) return void problems.push(`${what}: unexpected ${res.status} ${await res.text()}`);
  if (!res.headers.get("content-type")?.startsWith("application/json")) problems.push(`${what}: served as ${res.headers.get("content-type")}`);
  const back = await readBack();
  if (back !== sent) problems.push(`${what}: stored ${JSON.stringify(String(back).slice(0, 40))} for ${JSON.stringify(sent.slice(0, 40))}`);
}

describe("injection and traversal strings", () => {
  test("in every path parameter: 400 or 404, never a 5xx, never a hit", async () => {
    const routes = Object.keys(ACCESS).filter((k) => k.includes("{"));
    const wrong: string[] = [];
    const strings = { ...HOSTILE, "long unicode": "ü𝕏😀".repeat(300), "encoded slash": "..%2F..%2Fetc%2Fpasswd" };
    for (const key of routes) {
      const [method, template] = key.split(" ") as [string, string];
      for (const [name, s] of Object.entries(strings)) {
        const path = template.replace(/\{[a-z]+\}/g, name === "encoded slash" ? s : encodeURIComponent(s));
        const res = await app.request(path, {
          method,
          headers: { ...bearer(cast.tokens.admin), "content-type": "application/json" },
          body: method === "GET" ? undefined : "{}",
        });
        if (res.headers.get("content-type")?.startsWith("text/event-stream")) await res.body?.cancel();
        if (![400, 404].includes(res.status)) wrong.push(`${key} with ${name}: ${res.status}`);
      }
      // Unencoded ../ never escapes the route either.
      const raw = await app.request(template.replace(/\{[a-z]+\}/, "../../../../etc/passwd"), { method, headers: bearer(cast.tokens.admin) });
      if (![400, 404].includes(raw.status)) wrong.push(`${key} with raw ../: ${raw.status}`);
    }
    expect(wrong).toEqual([]);
  }, 60_000);
  test("in every text field: stored and shown inertly, or refused with 400", async () => {
    const before = await userCount();
    const problems: string[] = [];
    const a = cast.tokens.admin;
    for (const [name, s] of Object.entries(HOSTILE)) {
      let r = await call(app, a, "POST", "/api/v1/streams", { title: s });
      const sid = r.status === 201 ? ((await r.clone().json()) as { id: string }).id : "";
      await storedOrRefused(
        `stream title (${name})`,
        r,
        async () => ((await (await call(app, a, "GET", `/api/v1/streams/${sid}`)).json()) as { title: string }).title,
        s.trim(),
        problems,
      );

      r = await call(app, a, "POST", "/api/v1/streams", { title: "t", tags: [s] });
      await storedOrRefused(`stream tag (${name})`, r, async () => ((await r.clone().json()) as { tags: string[] }).tags[0], s.trim(), problems);

      r = await call(app, a, "POST", "/api/v1/invites", { note: s });
      await storedOrRefused(`invite note (${name})`, r, async () => ((await r.clone().json()) as { note: string }).note, s.trim(), problems);

      r = await call(app, a, "POST", "/api/v1/admin/tokens", { email: cast.emails.viewer, name: s });
      await storedOrRefused(`token name (${name})`, r, async () => ((await r.clone().json()) as { name: string }).name, s, problems);

      r = await call(app, a, "POST", "/api/v1/admin/users", { email: `${s}@x.example`.slice(0, 254), role: "viewer" });
      expect(r.status).toBeLessThan(500);

      r = await call(app, a, "POST", `/api/v1/streams/${stream}/hold`, { reason: s });
      await storedOrRefused(`hold reason (${name})`, r, async () => ((await r.clone().json()) as { reason: string }).reason, s, problems);
      if (r.status === 201) expect((await call(app, a, "DELETE", `/api/v1/streams/${stream}/hold`)).status).toBe(200);

      r = await call(app, a, "POST", "/api/v1/items", { kind: "text", title: s, body: s });
      await storedOrRefused(`item title (${name})`, r, async () => ((await r.clone().json()) as { title: string }).title, s.trim(), problems);
      const held = ((await (await call(app, a, "POST", "/api/v1/items", { kind: "text", title: "to hold" })).json()) as { id: string }).id;
      r = await call(app, a, "POST", `/api/v1/items/${held}/hold`, { reason: s });
      await storedOrRefused(`item hold reason (${name})`, r, async () => ((await r.clone().json()) as { reason: string }).reason, s, problems);

      r = await call(app, a, "PUT", `/api/v1/streams/${stream}/guidance`, { message: s });
      await storedOrRefused(`guidance message (${name})`, r, async () => ((await r.clone().json()) as { message: string }).message, s.trim(), problems);

      r = await call(app, a, "POST", "/api/v1/tags", { name: s });
      expect(`tag name (${name}) ${r.status}`).not.toMatch(/ 5\d\d$/);

      r = await call(app, a, "POST", `/api/v1/streams/${stream}/telemetry`, { samples: [{ t: s, lat: 1, lng: 1 }] });
      expect(r.status).toBe(400);

      r = await app.request("/api/v1/auth/login", json({ email: s, password: s }));
      expect([400, 401]).toContain(r.status);

      for (const q of ["actor", "action", "target_id", "since"]) {
        r = await call(app, a, "GET", `/api/v1/admin/audit?${q}=${encodeURIComponent(s)}`);
        expect(`audit ?${q}= (${name}) ${r.status}`).toMatch(/ (200|400)$/);
      }
    }
    expect(problems).toEqual([]);
    // The SQL did not run: every table is still there, and only the users the test created were added.
    expect(await userCount()).toBeGreaterThanOrEqual(before);
    expect((await call(app, cast.tokens.viewer, "GET", "/api/v1/auth/me")).status).toBe(200);
  }, 60_000);
});

/** A raw HTTP/1.1 exchange: send the head and body parts, then close or stall; returns what came back and when the server hung up. */
function rawRequest(head: string, parts: Uint8Array[], then: "close" | "stall", maxMs = 10_000): Promise<{ reply: string; closedAfterMs: number }> {
  const url = new URL(app.url);
  return new Promise((resolve) => {
    const t0 = Date.now();
    let reply = "";
    const sock = net.connect(Number(url.port), url.hostname, async () => {
      sock.write(head);
      for (const p of parts) {
        if (sock.destroyed) break;
        await new Promise<void>((r) => sock.write(p, () => r()));
      }
      if (then === "close") sock.end();
    });
    sock.on("data", (d) => {
      reply += d.toString("latin1");
      // An answer came: the server has decided; no need to wait for it to hang up.
      if (reply.includes("\r\n\r\n")) setTimeout(() => sock.destroy(), 100);
    });
    sock.on("error", () => {});
    const timer = setTimeout(() => sock.destroy(), maxMs);
    sock.on("close", () => {
      clearTimeout(timer);
      resolve({ reply, closedAfterMs: Date.now() - t0 });
    });
  });
}

const chunkHead = (id: string, seq: number, framing: string) =>
  `PUT /api/v1/streams/${id}/chunks/${seq} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${cast.tokens.admin}\r\nContent-Type: video/webm\r\n${framing}\r\n`;

function webmStart(n: number): Uint8Array {
  const b = new Uint8Array(n).fill(1);
  b.set([0x1a, 0x45, 0xdf, 0xa3]);
  return b;
}

async function nothingStored(id: string) {
  await Bun.sleep(300);
  const rows = await app.rt.database.db.selectFrom("chunks").select("seq").where("stream_id", "=", id).execute();
  expect(rows).toEqual([]);
  expect(await objectsUnder(app, `streams/${id}/`)).toEqual([]);
}

describe("uploads that lie or never end are cut off and leave nothing", () => {
  test("Content-Length larger than the body, then the client hangs up", async () => {
    const id = await createStream(app, cast.tokens.admin, "short body");
    await rawRequest(chunkHead(id, 0, "Content-Length: 500000\r\n"), [webmStart(20_000)], "close");
    await nothingStored(id);
  });

  test("Content-Length larger than the body, then silence: the idle timeout closes it", async () => {
    const id = await createStream(app, cast.tokens.admin, "stalled body");
    const r = await rawRequest(chunkHead(id, 0, "Content-Length: 500000\r\n"), [webmStart(20_000)], "stall");
    expect(r.closedAfterMs).toBeLessThan(9_000);
    await nothingStored(id);
  });

  test("a chunked body that never ends is cut at --max-chunk-bytes with 413", async () => {
    const id = await createStream(app, cast.tokens.admin, "endless body");
    const part = (b: Uint8Array) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from("\r\n")]);
    const parts = [part(webmStart(65_536)), ...Array.from({ length: 40 }, () => part(new Uint8Array(65_536).fill(2)))]; // 2.6 MB, never terminated
    const r = await rawRequest(chunkHead(id, 0, "Transfer-Encoding: chunked\r\n"), parts, "stall");
    expect(r.reply).toMatch(/^HTTP\/1\.1 413 /);
    await nothingStored(id);
  });

  test("a chunked body that stops arriving: the idle timeout closes it", async () => {
    const id = await createStream(app, cast.tokens.admin, "stopped chunked body");
    const r = await rawRequest(chunkHead(id, 0, "Transfer-Encoding: chunked\r\n"), [Buffer.from("4e20\r\n"), webmStart(20_000).slice(0, 10_000)], "stall");
    expect(r.closedAfterMs).toBeLessThan(9_000);
    await nothingStored(id);
  });

  test("a declared length over the limit is refused before a byte is read", async () => {
    const id = await createStream(app, cast.tokens.admin, "too long");
    const r = await rawRequest(chunkHead(id, 0, `Content-Length: ${2 * 1024 * 1024}\r\n`), [webmStart(1000)], "stall", 5_000);
    expect(r.reply).toMatch(/^HTTP\/1\.1 413 /);
    await nothingStored(id);
  });
});
