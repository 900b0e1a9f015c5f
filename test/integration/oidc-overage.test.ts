import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { createToken } from "../../core/auth/auth.service.ts";
import { until } from "../support/admin.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { hydraBinary, startHydra, type TestHydra } from "../support/hydra.ts";
import { freePort } from "../support/net.ts";
import { testDatabaseUrl } from "../support/postgres.ts";

// Group overage against a real provider (Ory Hydra): the consent app puts Entra ID's overage
// markers (_claim_names / _claim_sources) into the ID token instead of `groups`, and a small
// loopback server stands in for Microsoft Graph's getMemberObjects (which these tests cannot
// reach): it checks the access token rter sends by introspecting it at Hydra. Followed at sign-in
// and at the re-check; refused clearly when the endpoint refuses, answers too much, is not https
// or is switched off; a 503 when it does not answer. A role lowered by the provider revokes the
// account's API tokens.

if (!hydraBinary()) throw new Error("hydra is missing: run bash scripts/ensure-tools.sh --oidc");

const RTER = "http://rter.test";
const CALLBACK = `${RTER}/api/v1/auth/oidc/callback`;

let hydra: TestHydra;
let app: TestApp;
let graphServer: Server<undefined>;
let graphUrl: string;
/** The stand-in for Microsoft Graph: each subject's groups, how it answers, and what it saw. */
const graph = {
  groups: new Map<string, string[]>(),
  mode: "ok" as "ok" | "forbidden" | "huge",
  seen: [] as Array<{ method: string; sub: unknown; active: unknown; body: string }>,
};
const many = (n: number) => Array.from({ length: n }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`);
const overage = (endpoint: string) => ({ _claim_names: { groups: "src1" }, _claim_sources: { src1: { endpoint } } });

beforeAll(async () => {
  hydra = await startHydra({ redirectUrls: [CALLBACK], postLogoutUrls: [`${RTER}/`] });
  const port = await freePort();
  graphUrl = `http://127.0.0.1:${port}`;
  graphServer = Bun.serve({
    hostname: "127.0.0.1",
    port,
    fetch: async (req) => {
      const m = /^\/v1\.0\/users\/([^/]+)\/getMemberObjects$/.exec(new URL(req.url).pathname);
      if (!m) return new Response("not found", { status: 404 });
      const token = (req.headers.get("authorization") ?? "").replace(/^Bearer /, "");
      const intro = (await (await fetch(`${hydra.admin}/admin/oauth2/introspect`, { method: "POST", body: new URLSearchParams({ token }) })).json()) as {
        active: boolean;
        sub?: string;
      };
      graph.seen.push({ method: req.method, sub: intro.sub, active: intro.active, body: await req.text() });
      if (!intro.active || intro.sub !== decodeURIComponent(m[1]!)) return Response.json({ error: { code: "InvalidAuthenticationToken" } }, { status: 401 });
      if (graph.mode === "forbidden")
        return Response.json(
          { error: { code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation." } },
          { status: 403 },
        );
      if (graph.mode === "huge") {
        // 3 MiB in 64 KiB pieces, no length announced: the limit must hold while reading.
        let left = 48;
        const piece = new TextEncoder().encode(`{"value":["${"a".repeat(65_536 - 12)}`);
        return new Response(
          new ReadableStream({
            pull(c) {
              if (left-- > 0) c.enqueue(piece);
              else c.close();
            },
          }),
          { headers: { "content-type": "application/json" } },
        );
      }
      return Response.json({ value: graph.groups.get(intro.sub!) ?? [] });
    },
  });
  hydra.users.set("olga", { password: "x", email: "olga@city.test", extra: overage(`${graphUrl}/v1.0/users/olga/getMemberObjects`) });
  hydra.users.set("alice", { password: "x", email: "alice@city.test", groups: ["eoc-operators"] });
  app = await startTestApp({
    roles: "api",
    "database-url": await testDatabaseUrl(),
    ...hydra.settings(),
    "oidc-recheck": "1s",
    "rate-limit-login": "100000/1m",
    "rate-limit-anonymous": "100000/1m",
  });
}, 240_000);
afterAll(async () => {
  await app?.stop();
  graphServer?.stop(true);
  await hydra?.close();
});

/** A browser's cookies, per host:port. */
class Jar {
  private readonly byHost = new Map<string, Map<string, string>>();
  take(url: string, res: Response) {
    const host = new URL(url).host;
    const m = this.byHost.get(host) ?? new Map<string, string>();
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const at = pair!.indexOf("=");
      const value = pair!.slice(at + 1).trim();
      if (/max-age=0/i.test(c) || value === "") m.delete(pair!.slice(0, at).trim());
      else m.set(pair!.slice(0, at).trim(), value);
    }
    this.byHost.set(host, m);
  }
  header(url: string): string {
    return [...(this.byHost.get(new URL(url).host) ?? new Map()).entries()].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

/** The whole sign-in as `subject` on `on`, every redirect followed; the answer of the last hop. */
async function signIn(subject: string, on = app): Promise<{ res: Response; jar: Jar; me: () => Promise<Response> }> {
  hydra.autoLogin = subject;
  const jar = new Jar();
  let url = `${RTER}/api/v1/auth/oidc/start`;
  for (let hops = 0; hops < 20; hops++) {
    const headers = new Headers();
    const cookie = jar.header(url);
    if (cookie) headers.set("cookie", cookie);
    const res = url.startsWith(RTER) ? await on.request(url.slice(RTER.length), { headers }) : await fetch(url, { headers, redirect: "manual" });
    jar.take(url, res);
    const loc = res.headers.get("location");
    if (res.status < 300 || res.status >= 400 || !loc) {
      return { res, jar, me: () => on.request("/api/v1/auth/me", { headers: { cookie: jar.header(RTER) } }) };
    }
    await res.body?.cancel();
    url = new URL(loc, url).href;
  }
  throw new Error("too many redirects");
}

const problem = async (res: Response) => ((await res.json()) as { detail: string }).detail;
const roleOf = async (me: () => Promise<Response>) => ((await (await me()).json()) as { role?: string }).role;
async function auditOf(action: string) {
  return (await app.rt.database.db.selectFrom("audit_log").select(["detail"]).where("action", "=", action).orderBy("seq").execute()) as Array<{
    detail: Record<string, unknown>;
  }>;
}
const bearer = (token: string) => app.request("/api/v1/auth/me", { headers: { authorization: `Bearer ${token}` } });

describe("OIDC group overage (Ory Hydra, a stand-in for Microsoft Graph)", () => {
  test("the ID token names a claim source instead of groups: rter reads them there with the user's access token and maps them", async () => {
    graph.mode = "ok";
    graph.groups.set("olga", [...many(250), "eoc-operators"]);
    const seen = graph.seen.length;
    const s = await signIn("olga");
    expect(s.res.status).toBe(200);
    expect(await roleOf(s.me)).toBe("operator");
    // One call, a POST as getMemberObjects wants, with an access token the provider says is live and hers.
    expect(graph.seen.slice(seen)).toEqual([{ method: "POST", sub: "olga", active: true, body: '{"securityEnabledOnly":false}' }]);
    expect((await auditOf("login")).at(-1)!.detail).toMatchObject({ via: "oidc", groups: ["eoc-operators"], groups_from: "endpoint", group_count: 251 });
    // A user whose token carries its groups is not sent anywhere.
    expect((await signIn("alice")).res.status).toBe(200);
    expect(graph.seen.length).toBe(seen + 1);
  }, 60_000);

  test("the re-check reads the source again: a lowered role revokes the account's API tokens (a raised one does not); the source refusing ends access", async () => {
    graph.mode = "ok";
    graph.groups.set("olga", [...many(250), "eoc-operators"]);
    const s = await signIn("olga");
    expect(await roleOf(s.me)).toBe("operator");
    const tok = await createToken(app.rt.database.db, { email: "olga@city.test", name: "drone", ttlMs: 3_600_000 });
    expect((await bearer(tok.token)).status).toBe(200);
    graph.groups.set("olga", [...many(250), "eoc-viewers"]);
    await until("olga's role to follow the source", async () => (await roleOf(s.me)) === "viewer");
    expect((await auditOf("user.role_changed")).at(-1)!.detail).toMatchObject({ from: "operator", to: "viewer", via: "oidc", tokens_revoked: 1 });
    expect((await bearer(tok.token)).status).toBe(401);
    // Raised again: the token made as a viewer stays.
    const viewerTok = await createToken(app.rt.database.db, { email: "olga@city.test", name: "viewer script", ttlMs: 3_600_000 });
    graph.groups.set("olga", ["eoc-operators"]);
    await until("olga's role to go back up", async () => (await roleOf(s.me)) === "operator");
    expect((await auditOf("user.role_changed")).at(-1)!.detail).toMatchObject({ from: "viewer", to: "operator", tokens_revoked: 0 });
    expect((await bearer(viewerTok.token)).status).toBe(200);
    // The source refuses (the app lost its Graph permission): not stale access, the account is disabled.
    graph.mode = "forbidden";
    await until("olga's session to end", async () => (await s.me()).status === 401);
    const disabled = (await auditOf("user.disabled")).at(-1)!.detail;
    expect(disabled).toMatchObject({ email: "olga@city.test", via: "oidc", reason: "group_overage" });
    expect(String(disabled.error)).toContain("HTTP 403");
    graph.mode = "ok";
  }, 60_000);

  test("refused clearly at sign-in: the source answers 403, answers more than 2 MiB, or is not https; a source that does not answer is a 503", async () => {
    graph.groups.set("olga", ["eoc-operators"]);
    graph.mode = "forbidden";
    const denied = await signIn("olga");
    expect(denied.res.status).toBe(403);
    const said = await problem(denied.res);
    expect(said).toContain("your groups could not be read");
    expect(said).toContain("answered HTTP 403");
    expect(said).toContain("Insufficient privileges");
    expect((await auditOf("login.failed")).at(-1)!.detail).toMatchObject({ via: "oidc", reason: "group_overage", subject: "olga", claim: "groups" });

    graph.mode = "huge";
    const huge = await signIn("olga");
    expect(huge.res.status).toBe(403);
    expect(await problem(huge.res)).toContain("answered more than 2 MiB");
    graph.mode = "ok";

    // Plain http to a host that is not loopback: refused before anything is sent.
    hydra.users.set("oscar", { password: "x", email: "oscar@city.test", extra: overage("http://graph.example.test/v1.0/users/oscar/getMemberObjects") });
    const seen = graph.seen.length;
    const plain = await signIn("oscar");
    expect(plain.res.status).toBe(403);
    expect(await problem(plain.res)).toContain("http://graph.example.test is not https");
    expect(graph.seen.length).toBe(seen);

    // Nothing listening: the provider's side is down, not the user's groups wrong.
    hydra.users.set("otto", {
      password: "x",
      email: "otto@city.test",
      extra: overage(`http://127.0.0.1:${await freePort()}/v1.0/users/otto/getMemberObjects`),
    });
    const down = await signIn("otto");
    expect(down.res.status).toBe(503);
    expect(down.res.headers.get("retry-after")).toBe("30");
    expect(await problem(down.res)).toContain("groups endpoint");
    expect((await signIn("olga")).res.status).toBe(200);
  }, 60_000);

  test("--oidc-group-overage refuse: the sign-in is refused saying why, and nothing is fetched", async () => {
    const strict = await startTestApp({
      roles: "api",
      "database-url": await testDatabaseUrl(),
      ...hydra.settings(),
      "oidc-group-overage": "refuse",
      "rate-limit-login": "100000/1m",
    });
    try {
      const seen = graph.seen.length;
      const r = await signIn("olga", strict);
      expect(r.res.status).toBe(403);
      expect(await problem(r.res)).toContain("group overage");
      expect(graph.seen.length).toBe(seen);
      expect((await signIn("alice", strict)).res.status).toBe(200);
    } finally {
      await strict.stop();
    }
  }, 60_000);
});
