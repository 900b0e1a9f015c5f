import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server, Subprocess } from "bun";
import { freePort } from "./net.ts";
import { underWatchdog } from "./watchdog.ts";

/**
 * A real OpenID Connect provider: Ory Hydra v2.3.0 (built with `go install` by
 * scripts/ensure-tools.sh --oidc), in-memory storage, on free loopback ports, plus the small
 * login-and-consent app Hydra needs (Hydra holds no users itself). The app keeps a tiny city
 * directory the tests change at will; it accepts a login for a user (by form, or at once for
 * `autoLogin`), grants consent with the user's email and groups in the ID token, accepts logouts,
 * and is Hydra's token hook: on a refresh it puts the user's current groups in the new ID token,
 * or refuses (403 → access_denied) when the user was removed.
 */
export interface IdpUser {
  password: string;
  /** Sent as the email claim as is (tests put hostile values here). */
  email?: unknown;
  /** Sent as the groups claim as is. */
  groups?: unknown;
  /** Authentication methods reported (amr), e.g. ["pwd", "otp"]. */
  amr?: string[];
  /** Extra claims merged into the ID token. */
  extra?: Record<string, unknown>;
}

export interface TestHydra {
  /** The issuer (with its trailing slash, as Hydra writes it). */
  issuer: string;
  admin: string;
  clientId: string;
  clientSecret: string;
  /** A file holding the client secret, for --oidc-client-secret-file. */
  secretFile: string;
  /** Subject → user; change it freely (groups, removal) between requests. */
  users: Map<string, IdpUser>;
  /** When set, the login page signs this subject in at once (no form), even one not in `users` (consent then refuses). */
  autoLogin: string | null;
  /** Logout challenges accepted so far (RP-initiated logouts that reached the provider). */
  logouts: number;
  /** Refresh grants the token hook saw. */
  refreshes: number;
  /** rter's settings for this provider. */
  settings(roleMap?: string): Record<string, string>;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export function hydraBinary(): string | null {
  const candidates = [process.env.RTER_HYDRA_BIN, join(process.env.HOME ?? "/root", "go/bin/hydra"), "/usr/local/bin/hydra"].filter(Boolean) as string[];
  return candidates.find((p) => existsSync(p)) ?? null;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export async function startHydra(opts: { redirectUrls: string[]; postLogoutUrls: string[] }): Promise<TestHydra> {
  const bin = hydraBinary();
  if (!bin) throw new Error("hydra is missing: run bash scripts/ensure-tools.sh --oidc");
  const dir = mkdtempSync(join(tmpdir(), "rter-hydra-"));
  const [pub, adm] = [await freePort(), await freePort()];
  const users = new Map<string, IdpUser>();
  const issuer = `http://127.0.0.1:${pub}/`;
  const admin = `http://127.0.0.1:${adm}`;
  let app: Server<undefined>;

  const adminCall = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${admin}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`hydra admin ${method} ${path}: ${r.status} ${await r.text()}`);
    return r.status === 204 ? null : ((await r.json()) as Record<string, unknown>);
  };
  const redirect = (to: unknown) => new Response(null, { status: 302, headers: { location: String(to) } });
  // remember: Hydra keeps a login session (its cookie in that browser), so RP-initiated logout has one to end.
  const acceptLogin = async (challenge: string, subject: string) => {
    const amr = users.get(subject)?.amr;
    const r = await adminCall("PUT", `/admin/oauth2/auth/requests/login/accept?login_challenge=${encodeURIComponent(challenge)}`, {
      subject,
      remember: true,
      remember_for: 3600,
      ...(amr ? { amr } : {}),
    });
    return redirect(r!.redirect_to);
  };
  const idToken = (u: IdpUser) => ({
    ...(u.email !== undefined ? { email: u.email } : {}),
    ...(u.groups !== undefined ? { groups: u.groups } : {}),
    ...u.extra,
  });
  const loginForm = (challenge: string, error = "") =>
    new Response(
      `<!doctype html><html><head><title>City sign-in</title></head><body><h1>City identity provider</h1><p role="alert">${escapeHtml(error)}</p>` +
        `<form method="post" action="/login"><input type="hidden" name="challenge" value="${escapeHtml(challenge)}">` +
        `<label>Username <input name="username" autocomplete="username"></label><label>Password <input name="password" type="password"></label>` +
        `<button type="submit">Sign in</button></form></body></html>`,
      { headers: { "content-type": "text/html; charset=utf-8" } },
    );

  const state = {
    autoLogin: null as string | null,
    logouts: 0,
    refreshes: 0,
  };

  const fetchHandler = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (url.pathname === "/login" && req.method === "GET") {
      const challenge = url.searchParams.get("login_challenge") ?? "";
      const login = await adminCall("GET", `/admin/oauth2/auth/requests/login?login_challenge=${encodeURIComponent(challenge)}`);
      if (login!.skip) return acceptLogin(challenge, String(login!.subject));
      if (state.autoLogin) return acceptLogin(challenge, state.autoLogin);
      return loginForm(challenge);
    }
    if (url.pathname === "/login" && req.method === "POST") {
      const form = await req.formData();
      const challenge = String(form.get("challenge") ?? "");
      const username = String(form.get("username") ?? "");
      const u = users.get(username);
      if (!u || u.password !== String(form.get("password") ?? "")) return loginForm(challenge, "Wrong username or password");
      return acceptLogin(challenge, username);
    }
    if (url.pathname === "/consent") {
      const challenge = encodeURIComponent(url.searchParams.get("consent_challenge") ?? "");
      const consent = await adminCall("GET", `/admin/oauth2/auth/requests/consent?consent_challenge=${challenge}`);
      const u = users.get(String(consent!.subject));
      if (!u) {
        const r = await adminCall("PUT", `/admin/oauth2/auth/requests/consent/reject?consent_challenge=${challenge}`, {
          error: "access_denied",
          error_description: "the user is gone",
        });
        return redirect(r!.redirect_to);
      }
      const r = await adminCall("PUT", `/admin/oauth2/auth/requests/consent/accept?consent_challenge=${challenge}`, {
        grant_scope: consent!.requested_scope,
        grant_access_token_audience: consent!.requested_access_token_audience,
        remember: false,
        session: { id_token: idToken(u) },
      });
      return redirect(r!.redirect_to);
    }
    if (url.pathname === "/logout") {
      const challenge = encodeURIComponent(url.searchParams.get("logout_challenge") ?? "");
      const r = await adminCall("PUT", `/admin/oauth2/auth/requests/logout/accept?logout_challenge=${challenge}`);
      state.logouts++;
      return redirect(r!.redirect_to);
    }
    if (url.pathname === "/token-hook" && req.method === "POST") {
      const body = (await req.json()) as { session?: { id_token?: { subject?: string } }; request?: { grant_types?: string[] } };
      if (!body.request?.grant_types?.includes("refresh_token")) return new Response(null, { status: 204 });
      state.refreshes++;
      const u = users.get(body.session?.id_token?.subject ?? "");
      if (!u) return new Response(null, { status: 403 });
      return Response.json({ session: { access_token: {}, id_token: idToken(u) } });
    }
    return new Response("not found", { status: 404 });
  };
  const appPort = await freePort();
  app = Bun.serve({ hostname: "127.0.0.1", port: appPort, fetch: fetchHandler });
  const appUrl = `http://127.0.0.1:${appPort}`;

  writeFileSync(
    join(dir, "hydra.yml"),
    [
      "dsn: memory",
      "log:",
      "  level: warn",
      "serve:",
      `  public: { host: 127.0.0.1, port: ${pub} }`,
      `  admin: { host: 127.0.0.1, port: ${adm} }`,
      "urls:",
      `  self: { issuer: "${issuer}" }`,
      `  login: "${appUrl}/login"`,
      `  consent: "${appUrl}/consent"`,
      `  logout: "${appUrl}/logout"`,
      "secrets:",
      `  system: ["${crypto.randomUUID()}${crypto.randomUUID()}"]`,
      "oauth2:",
      `  token_hook: "${appUrl}/token-hook"`,
      "",
    ].join("\n"),
  );

  let proc: Subprocess<"pipe", "pipe", "inherit"> | null = null;
  const answers = async () => {
    try {
      return (await fetch(`${admin}/health/ready`, { signal: AbortSignal.timeout(1000) })).ok;
    } catch {
      return false;
    }
  };
  const start = async () => {
    // --dev: an http:// issuer on loopback; --sqa-opt-out: no telemetry calls (no internet here).
    proc = Bun.spawn(underWatchdog([bin, "serve", "all", "--dev", "--sqa-opt-out", "-c", join(dir, "hydra.yml")], join(dir, "hydra.log")), {
      stdin: "pipe",
      stdout: "pipe",
    });
    for (let i = 0; i < 300; i++) {
      if (await answers()) {
        // Hydra makes its RSA signing keys on first use, which takes many seconds on a busy machine:
        // make them now, not inside a test's request. Asked again until they are there.
        for (let j = 0; j < 60; j++) {
          const keys = await fetch(`${issuer}.well-known/jwks.json`, { signal: AbortSignal.timeout(30_000) }).then(
            (r) => r.ok,
            () => false,
          );
          if (keys) return;
          await Bun.sleep(500);
        }
        break;
      }
      if (proc.exitCode !== null) break;
      await Bun.sleep(100);
    }
    throw new Error(`hydra did not become ready on ${admin} (log: ${join(dir, "hydra.log")})`);
  };
  const stop = async () => {
    const p = proc;
    proc = null;
    if (!p) return;
    p.stdin.end();
    await p.exited;
    for (let i = 0; i < 50 && (await answers()); i++) await Bun.sleep(100);
  };
  const clientSecret = `rter-client-secret-${crypto.randomUUID()}`;
  // In-memory storage: a restarted Hydra has forgotten the client, so it is registered on every start.
  const register = () =>
    adminCall("POST", "/admin/clients", {
      client_id: "rter",
      client_name: "rter",
      client_secret: clientSecret,
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      scope: "openid email profile offline_access",
      redirect_uris: opts.redirectUrls,
      post_logout_redirect_uris: opts.postLogoutUrls,
      token_endpoint_auth_method: "client_secret_basic",
    });
  await start();
  const clientId = String((await register())!.client_id);
  const secretFile = join(dir, "client-secret");
  writeFileSync(secretFile, `${clientSecret}\n`, { mode: 0o600 });

  const hydra: TestHydra = {
    issuer,
    admin,
    clientId,
    clientSecret,
    secretFile,
    users,
    get autoLogin() {
      return state.autoLogin;
    },
    set autoLogin(v) {
      state.autoLogin = v;
    },
    get logouts() {
      return state.logouts;
    },
    get refreshes() {
      return state.refreshes;
    },
    settings: (roleMap = "eoc-admins=admin;eoc-operators=operator;eoc-viewers=viewer") => ({
      "oidc-issuer": issuer,
      "oidc-client-id": clientId,
      "oidc-client-secret-file": secretFile,
      "oidc-role-map": roleMap,
      "oidc-redirect-url": opts.redirectUrls[0]!,
      "oidc-post-logout-url": opts.postLogoutUrls[0]!,
      // A loaded test machine, not a slow provider: these tests are not about timeouts.
      "oidc-timeout": "30s",
    }),
    stop,
    start: async () => {
      await start();
      await register();
    },
    close: async () => {
      await stop();
      app.stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return hydra;
}
