import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { startTestApp, type TestApp } from "../support/app.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { startRter, type RterProcess } from "../support/rter-process.ts";
import { bearer, createStream, fakeWebm, makeCast, objectsUnder, putChunk, type Cast } from "../support/security.ts";

/**
 * The HTTP edge against real sockets: requests without a usable Host header, UI pages served from
 * source with their security headers, and uploads that trickle in too slowly to ever finish.
 */

let app: TestApp;
let minio: TestMinio;
let cast: Cast;

beforeAll(async () => {
  minio = await startMinio();
  // A small head start and floor, so a trickling upload is cut within about a second.
  app = await startTestApp({
    "database-url": await testDatabaseUrl(),
    "storage-url": minio.url,
    roles: "api",
    "upload-grace": "1s",
    "upload-min-rate": "4KiB",
    "rate-limit-login": "1000/1m",
  });
  cast = await makeCast(app, "edge.example");
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await minio?.stop();
});

interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
  raw: string;
}

function parseReply(raw: string): RawReply {
  const [head = "", ...rest] = raw.split("\r\n\r\n");
  const [statusLine = "", ...lines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body: rest.join("\r\n\r\n"), raw };
}

/**
 * One raw exchange on a fresh connection: writes `head` (and `body`), then, while no answer has
 * come, calls `trickle` every `everyMs` for more bytes. Resolves with what came back once the
 * server closes, or shortly after a complete answer (the server has decided by then).
 */
function exchange(
  baseUrl: string,
  head: string,
  opts: { body?: Uint8Array; trickle?: () => Uint8Array; everyMs?: number; maxMs?: number } = {},
): Promise<RawReply> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    let raw = "";
    let ticker: ReturnType<typeof setInterval> | undefined;
    const sock = net.connect(Number(url.port), url.hostname, () => {
      sock.write(head);
      if (opts.body) sock.write(opts.body);
      if (opts.trickle) ticker = setInterval(() => !sock.destroyed && sock.write(opts.trickle!()), opts.everyMs ?? 300);
    });
    const done = () => {
      clearInterval(ticker);
      clearTimeout(limit);
      resolve(parseReply(raw));
    };
    sock.on("data", (d) => {
      raw += d.toString("latin1");
      const reply = parseReply(raw);
      const length = Number(reply.headers["content-length"] ?? NaN);
      if (reply.status && Buffer.byteLength(reply.body, "latin1") >= length) {
        clearInterval(ticker);
        setTimeout(() => sock.destroy(), 50);
      }
    });
    sock.on("error", () => {});
    sock.on("close", done);
    const limit = setTimeout(() => sock.destroy(), opts.maxMs ?? 20_000);
  });
}

describe("requests without a usable Host header", () => {
  test("HTTP/1.0 without Host (HAProxy-style health checks) is served against the server's own origin", async () => {
    const health = await exchange(app.url, "GET /healthz HTTP/1.0\r\n\r\n");
    expect(health.status).toBe(200);

    const me = await exchange(app.url, "GET /api/v1/auth/me HTTP/1.0\r\n\r\n");
    expect(me.status).toBe(401);
    expect(me.headers["content-type"]).toBe("application/problem+json");
    expect(JSON.parse(me.body)).toMatchObject({ status: 401, instance: "/api/v1/auth/me" });

    // A request body survives the rebuilt request: signing in over HTTP/1.0 works.
    const login = JSON.stringify({ email: cast.emails.viewer, password: cast.password });
    const signedIn = await exchange(
      app.url,
      `POST /api/v1/auth/login HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: ${login.length}\r\n\r\n${login}`,
    );
    expect(signedIn.status).toBe(200);
    const token = (JSON.parse(signedIn.body) as { token: string }).token;
    const meAgain = await exchange(app.url, `GET /api/v1/auth/me HTTP/1.0\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    expect(meAgain.status).toBe(200);
    expect(JSON.parse(meAgain.body)).toMatchObject({ email: cast.emails.viewer });

    // A path that looks like a network-path reference stays a path on this server.
    const odd = await exchange(app.url, "GET //other.example/healthz HTTP/1.0\r\n\r\n");
    expect(odd.status).toBe(404);
  });

  test("an empty or malformed Host header is a 400 problem, and the server keeps serving", async () => {
    for (const head of [
      "GET /healthz HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n",
      "GET /api/v1/auth/me HTTP/1.0\r\nHost: \r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: rter.example:99999\r\nConnection: close\r\n\r\n",
      "POST /api/v1/auth/login HTTP/1.1\r\nHost: a b\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    ]) {
      const r = await exchange(app.url, head);
      expect(`${JSON.stringify(head)} ${r.status}`).toBe(`${JSON.stringify(head)} 400`);
      expect(r.headers["content-type"]).toBe("application/problem+json");
      expect(JSON.parse(r.body)).toMatchObject({ status: 400, code: "bad_request", detail: "invalid Host header" });
      expect(r.headers["x-request-id"]).toBeTruthy();
    }
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${app.url}/api/v1/auth/me`, { headers: bearer(cast.tokens.viewer) })).status).toBe(200);
  });
});

describe("uploads that trickle in too slowly", () => {
  const chunkHead = (id: string, seq: number, length: number) =>
    `PUT /api/v1/streams/${id}/chunks/${seq} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${cast.tokens.reporter}\r\nContent-Type: video/webm\r\nContent-Length: ${length}\r\n\r\n`;

  async function nothingStored(id: string) {
    const rows = await app.rt.database.db.selectFrom("chunks").select("seq").where("stream_id", "=", id).execute();
    expect(rows).toEqual([]);
    expect(await objectsUnder(app, `streams/${id}/`)).toEqual([]);
  }

  test("a chunk trickled a few bytes at a time gets 408, leaves nothing, and the stream takes the next upload", async () => {
    const id = await createStream(app, cast.tokens.reporter, "trickle");
    const r = await exchange(app.url, chunkHead(id, 0, 100_000), { body: fakeWebm(64), trickle: () => new Uint8Array(3).fill(7), everyMs: 300 });
    expect(r.status).toBe(408);
    expect(r.headers["content-type"]).toBe("application/problem+json");
    expect(JSON.parse(r.body)).toMatchObject({ status: 408, code: "request_timeout", title: "Request timeout" });
    await nothingStored(id);

    const again = await putChunk(app, cast.tokens.reporter, id, 0, fakeWebm(100_000));
    expect(again.status).toBe(201);
    expect(await objectsUnder(app, `streams/${id}/`)).toHaveLength(1);
  }, 30_000);

  test("an upload at a normal pace, longer than the head start, is stored", async () => {
    const id = await createStream(app, cast.tokens.reporter, "steady");
    const bytes = fakeWebm(100_000);
    // Ten parts, 150 ms apart: past the 1 s head start, and far above 4 KiB/s on average.
    let part = 0;
    const r = await exchange(app.url, chunkHead(id, 0, bytes.length), {
      body: bytes.subarray(0, 10_000),
      trickle: () => bytes.subarray(++part * 10_000, (part + 1) * 10_000),
      everyMs: 150,
    });
    expect(r.status).toBe(201);
    const sha = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
    expect(JSON.parse(r.body)).toEqual({ seq: 0, sha256: sha });

    // And over an ordinary client at full speed.
    const fast = await fetch(`${app.url}/api/v1/streams/${id}/chunks/1`, {
      method: "PUT",
      headers: { ...bearer(cast.tokens.reporter), "content-type": "video/webm" },
      body: fakeWebm(500_000),
    });
    expect(fast.status).toBe(201);
  }, 30_000);

  test("a photo report trickled in gets 408 too, and no item or object is left", async () => {
    const before = await app.rt.database.db.selectFrom("items").select("id").where("kind", "=", "photo").execute();
    const head = `POST /api/v1/items/photos?title=slow HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${cast.tokens.reporter}\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n`;
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const r = await exchange(app.url, head, { body: png, trickle: () => new Uint8Array(3).fill(1), everyMs: 300 });
    expect(r.status).toBe(408);
    expect(JSON.parse(r.body)).toMatchObject({ status: 408, code: "request_timeout" });
    const after = await app.rt.database.db.selectFrom("items").select("id").where("kind", "=", "photo").execute();
    expect(after.length).toBe(before.length);
    expect(await objectsUnder(app, "items/photos/")).toEqual([]);
  }, 30_000);
});

describe("UI pages running from source", () => {
  let web: RterProcess;
  beforeAll(async () => {
    web = await startRter({ args: ["--roles", "web"] });
    await web.waitReady();
  }, 90_000);
  afterAll(async () => {
    await web?.stop();
  });

  test("pages and their scripts carry the page security headers", async () => {
    const check = async (path: string, type: string) => {
      const res = await fetch(`${web.url}${path}`);
      expect(`${path} ${res.status}`).toBe(`${path} 200`);
      expect(res.headers.get("content-type")).toStartWith(type);
      expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      return res;
    };
    const consolePage = await (await check("/", "text/html")).text();
    await check("/report", "text/html");
    const join = await (await check("/join/abc", "text/html")).text();
    const script = /<script[^>]*\ssrc="?(\/[^"\s>]+)/.exec(consolePage)?.[1];
    expect(script).toBeDefined();
    const js = await check(script!, "text/javascript");
    expect(js.headers.get("cache-control")).toContain("immutable");
    expect((await js.text()).length).toBeGreaterThan(1000);
    const reportScript = /<script[^>]*\ssrc="?(\/[^"\s>]+)/.exec(join)?.[1];
    expect((await fetch(`${web.url}${reportScript}`)).status).toBe(200);

    // Raw HTTP/1.0 without Host reaches the pages too, as a load balancer's check would.
    expect((await exchange(web.url, "GET /healthz HTTP/1.0\r\n\r\n")).status).toBe(200);
  }, 30_000);
});
