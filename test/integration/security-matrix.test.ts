import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ACCESS, accessKey, matrixMarkdown, type RouteRule } from "../../core/auth/access-matrix.ts";
import { createToken } from "../../core/auth/auth.service.ts";
import { json, startTestApp, type TestApp } from "../support/app.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { ROOT } from "../support/rter-process.ts";
import { bearer, call, createStream, fakeWebm, makeCast, putChunk, type Cast } from "../support/security.ts";

// Every route of the OpenAPI document (and of the matrix: a few media routes are left out of the
// document by the generator), called with no token, an expired, a revoked and a malformed token,
// and with each role's token; each answer is checked against the role matrix.

let app: TestApp;
let minio: TestMinio;
let cast: Cast;
let streamId: string;
let itemId: string;
const identities: Record<string, string | null> = {};
type Observation = { key: string; who: string; status: number };
const seen: Observation[] = [];

beforeAll(async () => {
  minio = await startMinio();
  // Limits out of the way: this test is about who may call what, not how often.
  app = await startTestApp({
    "database-url": await testDatabaseUrl(),
    "storage-url": minio.url,
    roles: "api",
    "rate-limit": "1000000/1m",
    "rate-limit-anonymous": "1000000/1m",
    "rate-limit-login": "1000000/1m",
  });
  cast = await makeCast(app);
  const db = app.rt.database.db;
  streamId = await createStream(app, cast.tokens.reporter, "reporter A's stream");
  expect((await putChunk(app, cast.tokens.reporter, streamId, 0)).status).toBe(201);
  const items = (await (await call(app, cast.tokens.admin, "GET", "/api/v1/items?limit=50")).json()) as { id: string; stream: { id: string } | null }[];
  itemId = items.find((i) => i.stream?.id === streamId)!.id;
  await call(app, cast.tokens.admin, "POST", "/api/v1/tags", { name: "matrix" });

  const expired = await createToken(db, { email: cast.emails.admin, name: "expired", ttlMs: 1 });
  const revoked = await createToken(db, { email: cast.emails.admin, name: "revoked", ttlMs: 3_600_000 });
  expect((await call(app, cast.tokens.admin, "DELETE", `/api/v1/admin/tokens/${revoked.id}`)).status).toBe(204);
  // A signed-out session token too.
  const login = (await (await app.request("/api/v1/auth/login", json({ email: cast.emails.viewer, password: cast.password }))).json()) as { token: string };
  expect((await app.request("/api/v1/auth/logout", { method: "POST", headers: bearer(login.token) })).status).toBe(204);
  await Bun.sleep(5);
  Object.assign(identities, {
    none: null,
    expired: expired.token,
    revoked: revoked.token,
    "signed-out session": login.token,
    forged: "rter_" + "A".repeat(76),
    admin: cast.tokens.admin,
    operator: cast.tokens.operator,
    "reporter (owner)": cast.tokens.reporter,
    "reporter (other)": cast.tokens.reporter2,
    viewer: cast.tokens.viewer,
  });
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await minio?.stop();
});

async function openapiKeys(): Promise<string[]> {
  const doc = (await (await app.request("/api/openapi.json")).json()) as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => accessKey(m, p)));
}

/** A concrete request for a route key, addressing reporter A's things where there is an {id}. */
async function requestFor(key: string, token: string | null): Promise<Response> {
  const [method, template] = key.split(" ") as [string, string];
  let path = template;
  // Destructive calls get their own throwaway target, so the walk does not consume the fixtures.
  if (key === "DELETE /api/v1/streams/{id}") path = `/api/v1/streams/${await createStream(app, cast.tokens.reporter, "throwaway")}`;
  else if (key === "DELETE /api/v1/invites/{id}") {
    const inv = (await (await call(app, cast.tokens.admin, "POST", "/api/v1/invites", {})).json()) as { id: string };
    path = `/api/v1/invites/${inv.id}`;
  } else if (key === "DELETE /api/v1/admin/tokens/{id}") {
    path = `/api/v1/admin/tokens/${(await createToken(app.rt.database.db, { email: cast.emails.operator, name: "throwaway", ttlMs: 60_000 })).id}`;
  }
  // Logout revokes the API token that calls it: each role signs out a throwaway token of its own.
  const caller = key === "POST /api/v1/auth/logout" ? (Object.keys(cast.tokens) as (keyof Cast["tokens"])[]).find((k) => cast.tokens[k] === token) : undefined;
  if (caller) token = (await createToken(app.rt.database.db, { email: cast.emails[caller], name: "throwaway", ttlMs: 60_000 })).token;
  const prefix = template.split("/").slice(0, 4).join("/");
  const id =
    prefix === "/api/v1/items"
      ? itemId
      : prefix === "/api/v1/admin" || prefix === "/api/v1/invites"
        ? template.includes("/users/")
          ? cast.ids.operator
          : crypto.randomUUID()
        : streamId;
  path = path
    .replace("{id}", key.includes("/jobs/") ? "999999999" : id)
    .replace("{seq}", "1")
    .replace("{file}", "0.ts")
    .replace("{name}", "matrix")
    .replace("{tag}", "matrix");
  const headers: Record<string, string> = token ? bearer(token) : {};
  let body: BodyInit | undefined;
  if (key.startsWith("PUT /api/v1/streams/{id}/chunks/")) {
    headers["content-type"] = "video/webm";
    body = fakeWebm();
  } else if (key === "POST /api/v1/items/photos") {
    headers["content-type"] = "image/png";
    body = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]);
  } else if (key === "POST /api/v1/streams/{id}/telemetry") {
    // A valid body, so the owner check (not validation) decides.
    headers["content-type"] = "application/json";
    body = JSON.stringify({ samples: [{ t: Date.now(), lat: 45.5, lng: -73.6 }] });
  } else if (key === "POST /api/v1/items/{id}/comments") {
    headers["content-type"] = "application/json";
    body = JSON.stringify({ body: "a valid comment, so the owner check decides" });
  } else if (method !== "GET" && method !== "DELETE") {
    headers["content-type"] = "application/json";
    body = "{}";
  }
  const res = await app.request(path, { method, headers, body });
  // The event stream never ends by itself: its status line is the answer.
  if (res.headers.get("content-type")?.startsWith("text/event-stream")) await res.body?.cancel();
  return res;
}

function expected(key: string, rule: RouteRule, who: string): "public" | "401" | "403" | "404" | "allowed" {
  if (rule.public) return "public";
  if (["none", "expired", "revoked", "signed-out session", "forged"].includes(who)) return "401";
  const role = who.startsWith("reporter") ? "reporter" : (who as "admin" | "operator" | "viewer");
  const grant = rule.roles[role];
  if (grant === "none") return "403";
  // Lists of "own" things are filtered, not refused; a thing addressed by id is hidden (404).
  if (grant === "own" && who === "reporter (other)") return /\{id\}/.test(key) ? "404" : "allowed";
  return "allowed";
}

describe("the role matrix", () => {
  test("covers every route of the OpenAPI document, and names only routes that exist", async () => {
    const keys = await openapiKeys();
    expect(keys.filter((k) => !ACCESS[k])).toEqual([]);
    // Media routes (.m3u8, .jpg, .mp4) and the documents themselves are not in the document.
    const notInDoc = Object.keys(ACCESS).filter((k) => !keys.includes(k));
    expect(notInDoc.sort()).toEqual(
      [
        "GET /api/docs",
        "GET /api/openapi.json",
        "GET /api/v1/streams/{id}/hls/index.m3u8",
        "GET /api/v1/streams/{id}/hls/init.mp4",
        "GET /api/v1/streams/{id}/poster.jpg",
        "GET /api/v1/streams/{id}/recording.mp4",
      ].sort(),
    );
  });

  test("a viewer can write nothing (the matrix says so for every non-GET route but its own sign-out and password)", () => {
    const own = new Set(["POST /api/v1/auth/logout", "POST /api/v1/auth/oidc/logout", "POST /api/v1/auth/password"]);
    // A viewer secures their own account too: passkeys are their own second factor.
    for (const k of ["POST /api/v1/auth/passkeys/options", "POST /api/v1/auth/passkeys", "DELETE /api/v1/auth/passkeys/{id}"]) own.add(k);
    const writes = Object.entries(ACCESS).filter(([k, r]) => !k.startsWith("GET ") && !r.public && !own.has(k));
    expect(writes.length).toBeGreaterThan(20);
    for (const [k, r] of writes) expect(`${k}: ${!r.public && r.roles.viewer}`).toBe(`${k}: none`);
  });

  test("every route answers every identity as the matrix says", async () => {
    const keys = [...new Set([...(await openapiKeys()), ...Object.keys(ACCESS)])].filter((k) => !k.startsWith("GET /api/docs"));
    const wrong: string[] = [];
    for (const key of keys) {
      const rule = ACCESS[key]!;
      for (const [who, token] of Object.entries(identities)) {
        const res = await requestFor(key, token);
        const status = res.status;
        if (!res.bodyUsed) await res.arrayBuffer().catch(() => {});
        seen.push({ key, who, status });
        const want = expected(key, rule, who);
        const ok =
          status < 500 &&
          (want === "public" ? status !== 401 && status !== 403 : want === "allowed" ? status !== 401 && status !== 403 : Number(want) === status);
        if (!ok) wrong.push(`${key} as ${who}: ${status}, expected ${want}`);
      }
    }
    expect(wrong).toEqual([]);
    const counts = seen.reduce<Record<string, number>>((a, o) => ((a[o.status] = (a[o.status] ?? 0) + 1), a), {});
    console.log(
      `matrix walk: ${keys.length} routes x ${Object.keys(identities).length} identities = ${seen.length} requests; statuses ${JSON.stringify(counts)}`,
    );
  }, 60_000);

  test("docs/security.md shows this very matrix (bun scripts/role-matrix.ts --write)", () => {
    const doc = readFileSync(join(ROOT, "docs", "security.md"), "utf8");
    const m = /<!-- role-matrix:start -->\n([\s\S]*?)\n<!-- role-matrix:end -->/.exec(doc);
    expect(m?.[1]).toBe(matrixMarkdown());
  });
});
