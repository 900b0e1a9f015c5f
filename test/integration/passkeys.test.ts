import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { addUser } from "../../core/auth/auth.service.ts";
import { run as retentionSweep } from "../../workers/tasks/retention_sweep.ts";
import { json, startTestApp, type TestApp } from "../support/app.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { b64url, clientData, SoftAuthenticator } from "../support/soft-authenticator.ts";

// Passkeys as a second factor, through the API with real attestations and assertions (a software
// ES256 authenticator): first-factor enrolment during a sign-in, sign-in with the passkey, the
// account's own list, the signature counter, admin reset; and hostile answers on the verify
// endpoints (garbage, replayed challenge, wrong origin, another site's RP ID) — each a precise 4xx,
// each audited. The Chromium journey is test/e2e/passkey-ui.test.ts.

const ORIGIN = "http://localhost:8181";
let app: TestApp;
const chief = { email: "passkey-chief@city.test", password: "chief-Pass-2026-passkey" };
const op = { email: "passkey-op@city.test", password: "operator-Pass-2026-passkey" };
let chiefId = "";
const key = new SoftAuthenticator(ORIGIN);

beforeAll(async () => {
  app = await startTestApp({
    roles: "api",
    "database-url": await testDatabaseUrl(),
    "public-url": ORIGIN,
    "mfa-required": "admin",
    "rate-limit-login": "100000/1m",
    "login-max-failures": "50",
  });
  const db = app.rt.database.db;
  chiefId = (await addUser(db, { ...chief, role: "admin" })).user.id;
  await addUser(db, { ...op, role: "operator" });
}, 60_000);
afterAll(async () => {
  await app?.stop();
});

type Step = { challenge: string; enrolled: boolean; methods: string[] };
const post = (path: string, body: unknown, token?: string) => app.request(path, json(body, token ? { headers: { authorization: `Bearer ${token}` } } : {}));
const get = (path: string, token: string) => app.request(path, { headers: { authorization: `Bearer ${token}` } });
async function passwordStep(u: { email: string; password: string }): Promise<Step> {
  const r = await post("/api/v1/auth/login", u);
  expect(r.status).toBe(202);
  return (await r.json()) as Step;
}
async function problem(r: Response): Promise<{ status: number; detail: string; type: string }> {
  return { status: r.status, type: r.headers.get("content-type") ?? "", detail: ((await r.json()) as { detail: string }).detail };
}
async function lastAudit(action: string) {
  return app.rt.database.db
    .selectFrom("audit_log")
    .select(["action", "detail", "actor_email"])
    .where("action", "=", action)
    .orderBy("seq", "desc")
    .limit(1)
    .executeTakeFirst();
}
async function authOptions(challenge: string) {
  const r = await post("/api/v1/auth/mfa/webauthn/options", { challenge });
  expect(r.status).toBe(200);
  return (await r.json()) as { challenge: string; rpId: string; allowCredentials: { id: string }[] };
}

let session = "";
let recovery: string[] = [];

describe("passkeys (API, software authenticator)", () => {
  test("an admin with no second factor enrols a passkey during sign-in: session and 10 recovery codes", async () => {
    const step = await passwordStep(chief);
    expect(step).toMatchObject({ enrolled: false, methods: ["totp", "webauthn"] });
    const o = await post("/api/v1/auth/mfa/webauthn/register/options", { challenge: step.challenge });
    expect(o.status).toBe(200);
    const options = (await o.json()) as { challenge: string; rp: { id: string; name: string }; user: { name: string }; attestation: string };
    expect(options.rp).toEqual({ id: "localhost", name: "rter" });
    expect(options.user.name).toBe(chief.email);
    const r = await post("/api/v1/auth/mfa/webauthn/register", { challenge: step.challenge, name: "phone", response: key.register(options) });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { token: string; recovery_codes: string[] };
    expect(body.recovery_codes).toHaveLength(10);
    session = body.token;
    recovery = body.recovery_codes;
    expect((await lastAudit("mfa.enrolled"))?.detail).toMatchObject({ method: "webauthn", name: "phone" });
    expect((await lastAudit("login"))?.detail).toMatchObject({ via: "mfa", method: "webauthn" });
  }, 30_000);

  test("next sign-in: the passkey (or a recovery code) answers; TOTP cannot be enrolled on the side", async () => {
    const step = await passwordStep(chief);
    expect(step).toMatchObject({ enrolled: true, methods: ["webauthn", "recovery"] });
    // The password alone must not add a second factor that would bypass the passkey.
    const totp = await post("/api/v1/auth/mfa/totp/enrol", { challenge: step.challenge });
    expect(totp.status).toBe(409);
    const reg = await post("/api/v1/auth/mfa/webauthn/register/options", { challenge: step.challenge });
    expect(reg.status).toBe(409);
    const options = await authOptions(step.challenge);
    expect(options.rpId).toBe("localhost");
    expect(options.allowCredentials.map((c) => c.id)).toEqual([key.id]);
    const r = await post("/api/v1/auth/mfa/webauthn", { challenge: step.challenge, response: key.assert(options) });
    expect(r.status).toBe(200);
    expect(r.headers.get("set-cookie")).toContain("rter_session=");
    const list = (await (await get("/api/v1/auth/passkeys", ((await r.json()) as { token: string }).token)).json()) as {
      name: string;
      last_used_at: string | null;
    }[];
    expect(list.map((k) => k.name)).toEqual(["phone"]);
    expect(list[0]!.last_used_at).not.toBeNull();
    const rec = await passwordStep(chief);
    expect((await post("/api/v1/auth/mfa", { challenge: rec.challenge, recovery_code: recovery[0] })).status).toBe(200);
  }, 30_000);

  test("hostile assertions: garbage, replayed challenge, wrong origin, another key, a cloned counter — precise 4xx, audited", async () => {
    // Each case on a sign-in of its own: one sign-in takes 5 answers (options count as one).
    const ceremony = async () => {
      const step = await passwordStep(chief);
      const options = await authOptions(step.challenge);
      return { options, send: (response: unknown) => post("/api/v1/auth/mfa/webauthn", { challenge: step.challenge, response }) };
    };
    let c = await ceremony();
    const good = key.assert(c.options);
    // Not base64url at all: the schema refuses it before anything else.
    expect((await c.send({ ...good, response: { ...good.response, clientDataJSON: "%%%" } })).status).toBe(400);
    // base64url, but not JSON.
    expect(await problem(await c.send({ ...good, response: { ...good.response, clientDataJSON: b64url(Buffer.from("garbage")) } }))).toMatchObject({
      status: 400,
      type: "application/problem+json",
      detail: "clientDataJSON is not JSON",
    });
    // A registration's clientData where an assertion belongs.
    expect(
      await problem(await c.send({ ...good, response: { ...good.response, clientDataJSON: clientData("webauthn.create", c.options.challenge, ORIGIN) } })),
    ).toMatchObject({ status: 401, detail: expect.stringContaining("expected webauthn.get") });
    // Bytes that are no signature at all: malformed (400); the attempt spends the ceremony's challenge...
    expect(await problem(await c.send({ ...good, response: { ...good.response, signature: b64url(Buffer.alloc(72, 1)) } }))).toMatchObject({
      status: 400,
      detail: expect.stringContaining("cannot be read"),
    });
    // ...so the good answer after it is refused: a challenge works once.
    expect(await problem(await c.send(good))).toMatchObject({ status: 401, detail: "the passkey challenge is unknown, expired or already used; start again" });
    expect((await lastAudit("mfa.failed"))?.detail).toMatchObject({ method: "webauthn", reason: "challenge" });

    // Signed by the authenticator for another origin (a phishing page relaying the challenge).
    c = await ceremony();
    expect(await problem(await c.send(key.assert(c.options, { origin: "https://rter.evil.example" })))).toMatchObject({
      status: 401,
      detail: expect.stringContaining('origin "https://rter.evil.example"'),
    });
    expect((await lastAudit("mfa.failed"))?.detail).toMatchObject({ method: "webauthn", reason: "origin" });

    // A well-formed signature by another key under this credential's id.
    c = await ceremony();
    const impostor = new SoftAuthenticator(ORIGIN);
    expect(await problem(await c.send({ ...impostor.assert(c.options, { signCount: 1_000 }), id: key.id, rawId: key.id }))).toMatchObject({
      status: 401,
      detail: "the passkey's signature did not verify",
    });
    expect((await lastAudit("mfa.failed"))?.detail).toMatchObject({ reason: "signature" });

    // A clone of the authenticator, copied before its last use, answers with a counter that did not move.
    c = await ceremony();
    expect((await c.send(key.assert(c.options))).status).toBe(200);
    const copiedAt = key.signCount;
    c = await ceremony();
    expect(await problem(await c.send(key.assert(c.options, { signCount: copiedAt })))).toMatchObject({
      status: 401,
      detail: expect.stringContaining("signature counter did not advance"),
    });
    expect((await lastAudit("mfa.failed"))?.detail).toMatchObject({ reason: "counter" });
  }, 30_000);

  test("a replayed assertion of a finished sign-in does not start another; an unknown credential is refused", async () => {
    const step = await passwordStep(chief);
    const options = await authOptions(step.challenge);
    const answer = key.assert(options);
    expect((await post("/api/v1/auth/mfa/webauthn", { challenge: step.challenge, response: answer })).status).toBe(200);
    // The same answer again, for the same sign-in: the sign-in is spent.
    expect(await problem(await post("/api/v1/auth/mfa/webauthn", { challenge: step.challenge, response: answer }))).toMatchObject({
      status: 401,
      detail: expect.stringContaining("sign in again"),
    });
    // For a new sign-in: its challenge belonged to the old one.
    const next = await passwordStep(chief);
    await authOptions(next.challenge);
    expect(await problem(await post("/api/v1/auth/mfa/webauthn", { challenge: next.challenge, response: answer }))).toMatchObject({
      status: 401,
      detail: "the passkey challenge is unknown, expired or already used; start again",
    });
    // Another authenticator's credential for this account's challenge.
    const stranger = new SoftAuthenticator(ORIGIN);
    const o = await authOptions(next.challenge);
    expect(await problem(await post("/api/v1/auth/mfa/webauthn", { challenge: next.challenge, response: stranger.assert(o) }))).toMatchObject({
      status: 401,
      detail: "this passkey is not registered for this account",
    });
  }, 30_000);

  test("the account: add a second passkey, list, remove; the last one of an admin stays (409); hostile registrations are 400", async () => {
    const laptop = new SoftAuthenticator(ORIGIN);
    const o = await post("/api/v1/auth/passkeys/options", {}, session);
    expect(o.status).toBe(200);
    const options = (await o.json()) as { challenge: string; rp: { id: string }; excludeCredentials: { id: string }[] };
    expect(options.excludeCredentials.map((c) => c.id)).toEqual([key.id]);

    // Hostile: garbage attestation for the right challenge and origin — 400, and the challenge is spent.
    const att = laptop.register(options);
    const garbage = await post(
      "/api/v1/auth/passkeys",
      { response: { ...att, response: { ...att.response, attestationObject: b64url(Buffer.from("not cbor at all")) } } },
      session,
    );
    expect(await problem(garbage)).toMatchObject({ status: 400, detail: expect.stringContaining("the passkey response cannot be read") });
    const replay = await post("/api/v1/auth/passkeys", { response: att }, session);
    expect(await problem(replay)).toMatchObject({ status: 400, detail: "the passkey challenge is unknown, expired or already used; start again" });
    // Wrong origin and another site's RP ID.
    const o2 = (await (await post("/api/v1/auth/passkeys/options", {}, session)).json()) as typeof options;
    expect(await problem(await post("/api/v1/auth/passkeys", { response: laptop.register(o2, { origin: "http://localhost:9999" }) }, session))).toMatchObject({
      status: 400,
      detail: expect.stringContaining("not http://localhost:8181"),
    });
    const o3 = (await (await post("/api/v1/auth/passkeys/options", {}, session)).json()) as typeof options;
    expect(await problem(await post("/api/v1/auth/passkeys", { response: laptop.register({ ...o3, rp: { id: "evil.example" } }) }, session))).toMatchObject({
      status: 400,
      detail: expect.stringContaining("RP ID"),
    });
    expect((await lastAudit("mfa.passkey_refused"))?.detail).toMatchObject({ reason: "rp_id" });
    // Extra fields and wrong types: the schema.
    expect((await post("/api/v1/auth/passkeys", { response: { ...att, admin: true } }, session)).status).toBe(400);
    expect((await post("/api/v1/auth/passkeys", { response: { ...att, type: "password" } }, session)).status).toBe(400);

    const o4 = (await (await post("/api/v1/auth/passkeys/options", {}, session)).json()) as typeof options;
    const added = await post("/api/v1/auth/passkeys", { name: "laptop", response: laptop.register(o4) }, session);
    expect(added.status).toBe(201);
    const a = (await added.json()) as { passkey: { id: string; name: string }; recovery_codes?: string[] };
    expect(a.passkey.name).toBe("laptop");
    expect(a.recovery_codes).toBeUndefined();
    expect((await lastAudit("mfa.passkey_added"))?.actor_email).toBe(chief.email);

    const list = (await (await get("/api/v1/auth/passkeys", session)).json()) as { id: string; name: string }[];
    expect(list.map((k) => k.name)).toEqual(["phone", "laptop"]);
    // The admin page's user list says what each user signs in with after the password.
    const users = (await (await get("/api/v1/admin/users", session)).json()) as { email: string; second_factor: unknown }[];
    expect(users.find((u) => u.email === chief.email)?.second_factor).toEqual({ totp: false, passkeys: 2 });
    expect(users.find((u) => u.email === op.email)?.second_factor).toEqual({ totp: false, passkeys: 0 });
    const del = (id: string, token = session) =>
      app.request(`/api/v1/auth/passkeys/${id}`, { method: "DELETE", headers: { authorization: `Bearer ${token}` } });
    expect((await del(list[0]!.id)).status).toBe(204);
    expect(await problem(await del(a.passkey.id))).toMatchObject({ status: 409, detail: expect.stringContaining("the admin role needs a second factor") });
    expect((await del(crypto.randomUUID())).status).toBe(404);
    expect((await lastAudit("mfa.passkey_removed"))?.detail).toMatchObject({ name: "phone" });

    // Another user cannot see or remove it (404, not 403). Operators are outside --mfa-required here.
    const opLogin = await post("/api/v1/auth/login", op);
    expect(opLogin.status).toBe(200);
    const opToken = ((await opLogin.json()) as { token: string }).token;
    expect((await del(a.passkey.id, opToken)).status).toBe(404);
    expect(await (await get("/api/v1/auth/passkeys", opToken)).json()).toEqual([]);
  }, 30_000);

  test("an admin reset removes the passkeys: the user enrols again at the next sign-in", async () => {
    const r = await app.request(`/api/v1/admin/users/${chiefId}/mfa`, { method: "DELETE", headers: { authorization: `Bearer ${session}` } });
    expect(r.status).toBe(204);
    expect((await lastAudit("mfa.reset"))?.detail).toMatchObject({ passkeys_removed: 1 });
    const n = await app.rt.database.db.selectFrom("webauthn_credentials").select("id").where("user_id", "=", chiefId).execute();
    expect(n).toHaveLength(0);
    expect((await get("/api/v1/auth/passkeys", session)).status).toBe(401);
    expect(await passwordStep(chief)).toMatchObject({ enrolled: false, methods: ["totp", "webauthn"] });
  }, 30_000);
});

describe("expired passkey challenges of users who never come back", () => {
  test("the periodic retention job sweeps them for every user, in batches; a live ceremony is untouched and still completes", async () => {
    const db = app.rt.database.db;
    // Three admins start enrolling a passkey during sign-in and walk away; only one of them comes back.
    const gone: string[] = [];
    let back: { email: string; password: string; id: string } | undefined;
    for (const i of [1, 2, 3]) {
      const u = { email: `passkey-walkaway-${i}@city.test`, password: `walkaway-Pass-2026-${i}` };
      const id = (await addUser(db, { ...u, role: "admin" })).user.id;
      const step = await passwordStep(u);
      expect((await post("/api/v1/auth/mfa/webauthn/register/options", { challenge: step.challenge })).status).toBe(200);
      if (i === 3) back = { ...u, id };
      else gone.push(id);
    }
    // Time passes for the first two (past the expiry and the hour of grace); one of them also left a
    // pile of ceremonies (a script opening and abandoning them), more than one batch of the sweep.
    await db.updateTable("webauthn_challenges").set({ expires_at: sql<Date>`now() - interval '2 hours'` }).where("user_id", "in", gone).execute();
    await sql`insert into webauthn_challenges (user_id, purpose, challenge, expires_at)
      select ${gone[0]}::uuid, 'authenticate', 'abandoned-' || g, now() - interval '3 hours' from generate_series(1, 5200) g`.execute(db);
    const count = async (ids: string[]) =>
      Number(
        (
          await db
            .selectFrom("webauthn_challenges")
            .select((eb) => eb.fn.countAll<string>().as("n"))
            .where("user_id", "in", ids)
            .executeTakeFirstOrThrow()
        ).n,
      );
    expect(await count(gone)).toBe(5202);
    expect(await count([back!.id])).toBe(1);

    await retentionSweep({ db, store: app.rt.store, log: app.rt.log }, null, {});

    expect(await count(gone)).toBe(0);
    expect(await count([back!.id])).toBe(1);
    // The one who came back finishes an enrolment: the sweep left live ceremonies working.
    const laptop = new SoftAuthenticator(ORIGIN);
    const step = await passwordStep({ email: back!.email, password: back!.password });
    const o = await post("/api/v1/auth/mfa/webauthn/register/options", { challenge: step.challenge });
    expect(o.status).toBe(200);
    const r = await post("/api/v1/auth/mfa/webauthn/register", {
      challenge: step.challenge,
      name: "laptop",
      response: laptop.register((await o.json()) as { challenge: string; rp: { id: string } }),
    });
    expect(r.status).toBe(200);
  }, 60_000);
});
