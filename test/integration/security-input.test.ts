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
    // The parameter sweep sends thousands of requests; it is about validation, not about limits.
    "rate-limit": "1000000/1m",
    "rate-limit-user": "1000000/1m",
    "rate-limit-playback": "1000000/1m",
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

/** One parameter of one operation, as the OpenAPI document declares it. */
interface RouteParam {
  method: string;
  template: string;
  name: string;
  in: "path" | "query";
  schema: ParamSchema;
}

interface ParamSchema {
  type?: string;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  const?: unknown;
  enum?: unknown[];
  anyOf?: ParamSchema[];
}

/**
 * Whether a raw query or path value fits the parameter's declared schema, judged from the
 * OpenAPI document alone; null when the schema says too little to tell. A value that does not fit
 * must be refused by the route schema itself (400 naming the parameter), before any handler or SQL.
 */
function conforms(schema: ParamSchema, value: string): boolean | null {
  if (schema.anyOf) {
    const each = schema.anyOf.map((s) => conforms(s, value));
    return each.includes(true) ? true : each.includes(null) ? null : false;
  }
  if (schema.const !== undefined) return value === String(schema.const);
  if (schema.enum) return schema.enum.map(String).includes(value);
  if (schema.type === "integer" || schema.type === "number") {
    if (!/^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$/.test(value)) return false;
    const n = Number(value);
    if (!Number.isFinite(n) || (schema.type === "integer" && !Number.isInteger(n))) return false;
    return !(n < (schema.minimum ?? -Infinity) || n > (schema.maximum ?? Infinity));
  }
  if (schema.type === "boolean") return value === "true" || value === "false";
  if (schema.type !== "string") return null;
  if (value.length < (schema.minLength ?? 0) || value.length > (schema.maxLength ?? Infinity)) return false;
  if (schema.pattern && !new RegExp(schema.pattern).test(value)) return false;
  if (schema.format === "uuid") return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
  if (schema.format) return null;
  return true;
}

async function routeParams(): Promise<RouteParam[]> {
  const doc = (await (await app.request("/api/openapi.json")).json()) as {
    paths: Record<string, Record<string, { parameters?: { name: string; in: string; schema?: RouteParam["schema"] }[] }>>;
  };
  const out: RouteParam[] = [];
  for (const [template, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      for (const p of op.parameters ?? []) {
        if (p.in === "path" || p.in === "query") out.push({ method: method.toUpperCase(), template, name: p.name, in: p.in, schema: p.schema ?? {} });
      }
    }
  }
  return out;
}

/** Values no id, cursor or name of this API takes: each must be refused at the edge, by name, as problem+json. */
const HOSTILE_IDS: Record<string, string> = {
  ...HOSTILE,
  "long unicode": "ü𝕏😀".repeat(300),
  "not a uuid": "not-a-uuid",
  "urn uuid": `urn:uuid:${crypto.randomUUID()}`,
  "braced uuid": `{${crypto.randomUUID()}}`,
  "uuid with a NUL": `${crypto.randomUUID()}\u0000`,
  "cursor of hyphens": `1_${"-".repeat(36)}`,
  "10 kB": "a".repeat(10_240),
  negative: "-1",
  huge: "99999999999999999999",
  "float overflow": "1e999",
  hex: "0x10",
  empty: "",
};

/** Words of a database error: none may reach a client. */
const POSTGRES_TEXT =
  /invalid input syntax|22P0\d|2202\d|syntax error at|out of range for type|violates|relation "|column "|unterminated|a value was not accepted|internal error/i;

describe("injection and traversal strings", () => {
  test("in every path and query parameter of every route: a precise 4xx problem naming it, never a 5xx or a database error", async () => {
    const params = await routeParams();
    const paths = params.filter((p) => p.in === "path");
    const queries = params.filter((p) => p.in === "query");
    expect(paths.some((p) => p.template === "/api/v1/admin/queue-probes/{id}")).toBe(true);
    // Routes of the access matrix whose parameters the document does not declare (media answers)
    // are swept too, by the general rules only: their schema is not known here.
    const declared = new Set(paths.map((p) => `${p.method} ${p.template}`));
    for (const key of Object.keys(ACCESS).filter((k) => k.includes("{") && !declared.has(k))) {
      const [method, template] = key.split(" ") as [string, string];
      for (const [, name] of template.matchAll(/\{([^}]+)\}/g)) paths.push({ method, template, name: name!, in: "path", schema: {} });
    }
    expect(paths.some((p) => p.template === "/api/v1/streams/{id}/recording.mp4")).toBe(true);
    expect(queries.some((p) => p.template === "/api/v1/admin/audit/" || p.template === "/api/v1/admin/audit")).toBe(true);
    const wrong: string[] = [];
    let sent = 0;
    const fill = (template: string, name: string, value: string) =>
      template.replace(/\{([^}]+)\}/g, (_, n: string) =>
        n === name ? value : n === "name" || n === "tag" ? "fire" : n === "seq" ? "0" : n === "file" ? "0.ts" : crypto.randomUUID(),
      );
    for (const p of [...paths, ...queries]) {
      for (const [family, s] of Object.entries(HOSTILE_IDS)) {
        const url = p.in === "path" ? fill(p.template, p.name, encodeURIComponent(s)) : `${fill(p.template, "", "")}?${p.name}=${encodeURIComponent(s)}`;
        const res = await app.request(url, {
          method: p.method,
          headers: { ...bearer(cast.tokens.admin), "content-type": "application/json" },
          body: p.method === "GET" || p.method === "HEAD" ? undefined : "{}",
        });
        sent++;
        const where = `${p.method} ${p.template} ${p.in} ${p.name}=${family}`;
        const type = res.headers.get("content-type") ?? "";
        if (type.startsWith("text/event-stream") || !/json/.test(type)) {
          await res.body?.cancel();
          if (res.status >= 400) wrong.push(`${where}: ${res.status} as ${type}`);
          continue;
        }
        const text = await res.text();
        if (res.status >= 500) wrong.push(`${where}: ${res.status} ${text.slice(0, 200)}`);
        else if (POSTGRES_TEXT.test(text)) wrong.push(`${where}: database words in ${text.slice(0, 200)}`);
        else if (res.status >= 400 && type !== "application/problem+json") wrong.push(`${where}: ${res.status} as ${type}`);
        // A value the declared schema does not take is refused by the schema, naming the parameter
        // (a control character by where it is), whatever the handler would have done with it.
        else if (family !== "empty" && conforms(p.schema, s) === false) {
          const named = text.includes(`/${p.name}`) || text.includes(`"${p.name}"`) || (/[\u0000-\u001f]/.test(s) && /the path|control character/.test(text));
          if (res.status !== 400 || !named) wrong.push(`${where}: ${res.status}, not a 400 naming ${p.name}: ${text.slice(0, 200)}`);
        }
      }
      if (p.in === "path") {
        // Unencoded ../ never escapes the route either.
        const raw = await app.request(fill(p.template, p.name, "../../../../etc/passwd"), { method: p.method, headers: bearer(cast.tokens.admin) });
        await raw.body?.cancel();
        if (![400, 404].includes(raw.status)) wrong.push(`${p.method} ${p.template} ${p.name} with raw ../: ${raw.status}`);
      }
    }
    console.log(`hostile parameters: ${paths.length} path and ${queries.length} query parameters, ${sent} requests`);
    expect(wrong).toEqual([]);
    expect(sent).toBe((paths.length + queries.length) * Object.keys(HOSTILE_IDS).length);
    // The process took all of it and still serves.
    expect((await app.request("/healthz")).status).toBe(200);
    expect((await call(app, cast.tokens.viewer, "GET", "/api/v1/auth/me")).status).toBe(200);
  }, 120_000);

  test("a probe id Postgres would refuse is refused by the route schema, naming the id", async () => {
    for (const id of ["not-a-uuid", `urn:uuid:${crypto.randomUUID()}`, `{${crypto.randomUUID()}}`, crypto.randomUUID().replace(/-/g, "")]) {
      const res = await call(app, cast.tokens.admin, "GET", `/api/v1/admin/queue-probes/${encodeURIComponent(id)}`);
      expect({ id, status: res.status, type: res.headers.get("content-type") }).toEqual({ id, status: 400, type: "application/problem+json" });
      expect(((await res.json()) as { detail: string }).detail).toMatch(/^\/id: .*uuid/i);
    }
    const res = await call(app, cast.tokens.admin, "GET", `/api/v1/admin/queue-probes/${crypto.randomUUID()}`);
    expect(res.status).toBe(404);
  });

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

  test("a chunked body cut mid-way, then the client hangs up", async () => {
    const id = await createStream(app, cast.tokens.admin, "cut chunked body");
    await rawRequest(chunkHead(id, 0, "Transfer-Encoding: chunked\r\n"), [Buffer.from("4e20\r\n"), webmStart(20_000).slice(0, 10_000)], "close");
    await nothingStored(id);
  });

  test("a chunked body of whole parts without its last (zero) part, then the client hangs up", async () => {
    const id = await createStream(app, cast.tokens.admin, "unterminated chunked body");
    const part = (b: Uint8Array) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from("\r\n")]);
    await rawRequest(chunkHead(id, 0, "Transfer-Encoding: chunked\r\n"), [part(webmStart(10_000)), part(new Uint8Array(10_000).fill(2))], "close");
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
