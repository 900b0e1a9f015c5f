import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { json, startTestApp, type TestApp } from "../support/app.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { call, createStream, makeCast, putChunk, type Cast } from "../support/security.ts";

let app: TestApp;
let minio: TestMinio;
let cast: Cast;
let mine: string; // reporter A's stream

beforeAll(async () => {
  minio = await startMinio();
  // Sign-ins and invite uses of this file all come from one address: above the default 20/min.
  app = await startTestApp({ "database-url": await testDatabaseUrl(), "storage-url": minio.url, roles: "api", "rate-limit-login": "200/1m" });
  cast = await makeCast(app);
  mine = await createStream(app, cast.tokens.reporter, "A's stream");
  expect((await putChunk(app, cast.tokens.reporter, mine, 0)).status).toBe(201);
  expect(
    (await call(app, cast.tokens.reporter, "POST", `/api/v1/streams/${mine}/telemetry`, { samples: [{ t: Date.now(), lat: 45.5, lng: -73.6, heading: 90 }] }))
      .status,
  ).toBe(200);
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await minio?.stop();
});

async function login(email: string, password: string) {
  const res = await app.request("/api/v1/auth/login", json({ email, password }));
  expect(res.status).toBe(200);
  return { token: ((await res.json()) as { token: string }).token, cookie: res.headers.get("set-cookie")!.split(";")[0]! };
}

describe("reporters see only their own", () => {
  test("another reporter cannot list or read the stream, its chunks, playlist, segments, poster, recording, telemetry or guidance", async () => {
    const other = cast.tokens.reporter2;
    const list = (await (await call(app, other, "GET", "/api/v1/streams")).json()) as { id: string }[];
    expect(list.map((s) => s.id)).not.toContain(mine);
    const items = (await (await call(app, other, "GET", "/api/v1/items")).json()) as { stream: { id: string } | null }[];
    expect(items.some((i) => i.stream?.id === mine)).toBe(false);
    for (const path of ["", "/telemetry", "/hls/index.m3u8", "/hls/segments/0.ts", "/poster.jpg", "/recording.mp4", "/guidance"]) {
      const res = await call(app, other, "GET", `/api/v1/streams/${mine}${path}`);
      expect(`${path} ${res.status}`).toBe(`${path} 404`);
    }
    expect((await putChunk(app, other, mine, 1)).status).toBe(404);
    expect((await call(app, other, "POST", `/api/v1/streams/${mine}/telemetry`, { samples: [{ t: Date.now(), lat: 1, lng: 1 }] })).status).toBe(404);
    expect((await call(app, other, "POST", `/api/v1/streams/${mine}/finish`)).status).toBe(404);
    // ...and the owner, an operator and a viewer can read it.
    for (const who of ["reporter", "operator", "viewer"] as const)
      expect((await call(app, cast.tokens[who], "GET", `/api/v1/streams/${mine}/telemetry`)).status).toBe(200);
  });

  test("a viewer cannot write: create, upload, telemetry, finish, invite, tag, hold", async () => {
    const v = cast.tokens.viewer;
    expect((await call(app, v, "POST", "/api/v1/streams", { title: "x" })).status).toBe(403);
    expect((await putChunk(app, v, mine, 5)).status).toBe(403);
    expect((await call(app, v, "POST", `/api/v1/streams/${mine}/telemetry`, { samples: [{ t: Date.now(), lat: 1, lng: 1 }] })).status).toBe(403);
    expect((await call(app, v, "POST", `/api/v1/streams/${mine}/finish`)).status).toBe(403);
    expect((await call(app, v, "POST", "/api/v1/invites", {})).status).toBe(403);
    expect((await call(app, v, "POST", "/api/v1/tags", { name: "x" })).status).toBe(403);
    expect((await call(app, v, "POST", `/api/v1/streams/${mine}/hold`, { reason: "x" })).status).toBe(403);
    expect((await call(app, v, "POST", "/api/v1/items", { kind: "text", title: "x" })).status).toBe(403);
  });
});

describe("invite links", () => {
  test("work once, sign the reporter in like a login, and not a second time", async () => {
    const created = await call(app, cast.tokens.operator, "POST", "/api/v1/invites", { note: "bridge collapse, volunteer" });
    expect(created.status).toBe(201);
    const inv = (await created.json()) as { id: string; token: string; url: string; role: string; expires_at: string };
    expect(inv.url).toBe(`/join/${inv.token}`);
    expect(inv.role).toBe("reporter");
    expect(new Date(inv.expires_at).getTime() - Date.now()).toBeGreaterThan(23 * 3_600_000);

    const ok = await app.request("/api/v1/invites/accept", json({ token: inv.token }));
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { token: string; user: { email: string; role: string } };
    expect(body.user).toMatchObject({ email: `invite-${inv.id}@invite.local`, role: "reporter" });
    expect(ok.headers.get("set-cookie")).toMatch(/^rter_session=rter_[\w-]+; Path=\/; HttpOnly; SameSite=Strict/);
    const stream = await createStream(app, body.token, "from the invite");
    expect((await putChunk(app, body.token, stream, 0)).status).toBe(201);

    const again = await app.request("/api/v1/invites/accept", json({ token: inv.token }));
    expect(again.status).toBe(410);
    expect(again.headers.get("content-type")).toBe("application/problem+json");
    expect(((await again.json()) as { state: string }).state).toBe("used");
    const list = (await (await call(app, cast.tokens.operator, "GET", "/api/v1/invites")).json()) as { id: string; state: string }[];
    expect(list.find((i) => i.id === inv.id)?.state).toBe("used");
    expect(JSON.stringify(list)).not.toContain(inv.token);

    // Revoking the used invite signs its account out.
    expect((await call(app, cast.tokens.operator, "DELETE", `/api/v1/invites/${inv.id}`)).status).toBe(204);
    expect((await call(app, body.token, "GET", "/api/v1/auth/me")).status).toBe(401);
  });

  test("an expired or revoked invite is 410; an unknown one 401; concurrent uses: exactly one wins", async () => {
    const mk = async (b: unknown = {}) => (await (await call(app, cast.tokens.operator, "POST", "/api/v1/invites", b)).json()) as { id: string; token: string };
    const expired = await mk({ ttl_seconds: 60 });
    await sql`update invites set expires_at = now() - interval '1 second' where id = ${expired.id}`.execute(app.rt.database.db);
    const r1 = await app.request("/api/v1/invites/accept", json({ token: expired.token }));
    expect(r1.status).toBe(410);
    expect(((await r1.json()) as { state: string }).state).toBe("expired");

    const revoked = await mk();
    expect((await call(app, cast.tokens.operator, "DELETE", `/api/v1/invites/${revoked.id}`)).status).toBe(204);
    const r2 = await app.request("/api/v1/invites/accept", json({ token: revoked.token }));
    expect(r2.status).toBe(410);
    expect(((await r2.json()) as { state: string }).state).toBe("revoked");

    expect((await app.request("/api/v1/invites/accept", json({ token: "inv_" + "A".repeat(43) }))).status).toBe(401);
    expect((await app.request("/api/v1/invites/accept", json({ token: "' or 1=1 --------" }))).status).toBe(401);

    const race = await mk();
    const answers = await Promise.all(Array.from({ length: 8 }, () => app.request("/api/v1/invites/accept", json({ token: race.token }))));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 410, 410, 410, 410, 410, 410, 410]);
  });

  test("roles an inviter may hand out", async () => {
    expect((await call(app, cast.tokens.operator, "POST", "/api/v1/invites", { role: "operator" })).status).toBe(403);
    expect((await call(app, cast.tokens.operator, "POST", "/api/v1/invites", { role: "admin" })).status).toBe(400);
    const viewerInvite = await call(app, cast.tokens.operator, "POST", "/api/v1/invites", { role: "viewer" });
    expect(viewerInvite.status).toBe(201);
    expect((await call(app, cast.tokens.admin, "POST", "/api/v1/invites", { role: "operator" })).status).toBe(201);
    const tok = ((await viewerInvite.json()) as { token: string }).token;
    const acc = (await (await app.request("/api/v1/invites/accept", json({ token: tok }))).json()) as { token: string; user: { role: string } };
    expect(acc.user.role).toBe("viewer");
    expect((await call(app, acc.token, "POST", "/api/v1/streams", { title: "x" })).status).toBe(403);
  });
});

describe("sessions, cookies and CSRF", () => {
  test("cookie writes need X-Requested-With; bearer writes do not; reads never", async () => {
    const { cookie } = await login(cast.emails.reporter, cast.password);
    expect((await app.request("/api/v1/auth/me", { headers: { cookie } })).status).toBe(200);
    const noHeader = await app.request("/api/v1/streams", { method: "POST", headers: { cookie, "content-type": "application/json" }, body: "{}" });
    expect(noHeader.status).toBe(403);
    expect(((await noHeader.json()) as { detail: string }).detail).toMatch(/x-requested-with/i);
    const withHeader = await app.request("/api/v1/streams", {
      method: "POST",
      headers: { cookie, "content-type": "application/json", "x-requested-with": "rter" },
      body: "{}",
    });
    expect(withHeader.status).toBe(201);
    expect((await call(app, cast.tokens.reporter, "POST", "/api/v1/streams", {})).status).toBe(201);
  });

  test("a session ends after 30 idle minutes; use slides the end; API tokens do not idle out", async () => {
    const db = app.rt.database.db;
    const { token } = await login(cast.emails.operator, cast.password);
    // Time passes by moving the last use back in the row, unannounced: the node's credential
    // memory (at most 5 s, core/auth/credential-cache.ts) is dropped as its time limit would.
    const ago = async (min: number) => {
      await sql`update api_tokens set last_used_at = now() - make_interval(mins => ${min}) where kind = 'session' and user_id = ${cast.ids.operator}`.execute(
        db,
      );
      app.api!.credentials.clear();
    };
    await ago(29);
    expect((await call(app, token, "GET", "/api/v1/auth/me")).status).toBe(200);
    // That use moved the end: 29 more minutes are fine again.
    const row = await db
      .selectFrom("api_tokens")
      .select("last_used_at")
      .where("kind", "=", "session")
      .where("user_id", "=", cast.ids.operator)
      .executeTakeFirstOrThrow();
    expect(Date.now() - new Date(row.last_used_at!).getTime()).toBeLessThan(10_000);
    await ago(31);
    const idle = await call(app, token, "GET", "/api/v1/auth/me");
    expect(idle.status).toBe(401);
    expect(((await idle.json()) as { detail: string }).detail).toMatch(/inactivity/);
    await sql`update api_tokens set last_used_at = now() - interval '2 days' where kind = 'api' and user_id = ${cast.ids.operator}`.execute(db);
    expect((await call(app, cast.tokens.operator, "GET", "/api/v1/auth/me")).status).toBe(200);
  });

  test("a forged or tampered session token is refused before the database", async () => {
    const { token } = await login(cast.emails.viewer, cast.password);
    const tampered = token.slice(0, 30) + (token[30] === "x" ? "y" : "x") + token.slice(31);
    expect((await call(app, tampered, "GET", "/api/v1/auth/me")).status).toBe(401);
    expect((await call(app, token, "GET", "/api/v1/auth/me")).status).toBe(200);
  });
});

describe("API tokens: scoped, revocable, listed without secrets", () => {
  test("a token scoped below its user's role acts with that role; above is refused", async () => {
    const res = await call(app, cast.tokens.admin, "POST", "/api/v1/admin/tokens", {
      email: cast.emails.operator,
      name: "wall display",
      role: "viewer",
      ttl_seconds: 3600,
    });
    expect(res.status).toBe(201);
    const t = (await res.json()) as { id: string; token: string; role: string };
    expect(t.role).toBe("viewer");
    expect(((await (await call(app, t.token, "GET", "/api/v1/auth/me")).json()) as { role: string }).role).toBe("viewer");
    expect((await call(app, t.token, "POST", "/api/v1/streams", {})).status).toBe(403);
    expect((await call(app, cast.tokens.admin, "POST", "/api/v1/admin/tokens", { email: cast.emails.reporter, name: "x", role: "viewer" })).status).toBe(403);
    expect((await call(app, cast.tokens.admin, "POST", "/api/v1/admin/tokens", { user_id: cast.ids.operator, name: "x", role: "admin" })).status).toBe(403);
    expect((await call(app, cast.tokens.admin, "POST", "/api/v1/admin/tokens", { name: "whose?" })).status).toBe(400);

    const list = (await (await call(app, cast.tokens.admin, "GET", `/api/v1/admin/tokens?user_id=${cast.ids.operator}`)).json()) as {
      id: string;
      role: string;
    }[];
    expect(list.find((x) => x.id === t.id)?.role).toBe("viewer");
    expect(JSON.stringify(list)).not.toContain(t.token);
    expect((await call(app, cast.tokens.admin, "DELETE", `/api/v1/admin/tokens/${t.id}`)).status).toBe(204);
    expect((await call(app, t.token, "GET", "/api/v1/auth/me")).status).toBe(401);
  });

  test("changing a user's role ends their sessions and tokens; the last admin stays", async () => {
    const db = app.rt.database.db;
    const { user } = await (await import("../../core/auth/auth.service.ts")).addUser(db, {
      email: "demoted@city.example",
      role: "operator",
      password: cast.password,
    });
    const tok = (await (await call(app, cast.tokens.admin, "POST", "/api/v1/admin/tokens", { email: "demoted@city.example", name: "t" })).json()) as {
      token: string;
    };
    const { token: session } = await login("demoted@city.example", cast.password);
    const patch = await call(app, cast.tokens.admin, "PATCH", `/api/v1/admin/users/${user.id}`, { role: "viewer" });
    expect(patch.status).toBe(200);
    expect((await call(app, tok.token, "GET", "/api/v1/auth/me")).status).toBe(401);
    expect((await call(app, session, "GET", "/api/v1/auth/me")).status).toBe(401);
    expect((await call(app, cast.tokens.admin, "PATCH", `/api/v1/admin/users/${cast.ids.admin}`, { role: "operator" })).status).toBe(409);
    expect((await call(app, cast.tokens.admin, "PATCH", `/api/v1/admin/users/${cast.ids.admin}`, { disabled: true })).status).toBe(409);
    const users = (await (await call(app, cast.tokens.admin, "GET", "/api/v1/admin/users")).json()) as { email: string; role: string }[];
    expect(users.find((u) => u.email === "demoted@city.example")?.role).toBe("viewer");
  });
});
