import { Elysia } from "elysia";
import { audit } from "../audit/audit.service.ts";
import { AppError } from "../errors.ts";
import { currentRequest } from "../request-context.ts";
import type { ApiContext } from "../runtime.ts";
import { ruleFor } from "./access-matrix.ts";
import { ChangePasswordBody, LoginBody, LoginResponse, MfaAnswerBody, MfaEnrolBody, MfaEnrolment, MfaStep, PasswordChanged, UserModel } from "./auth.model.ts";
import { revokeApiToken } from "./admin.service.ts";
import { revokeToken } from "./auth.repository.ts";
import { authenticate, completeSecondFactor, login, type AuthSettings, type AuthUser, type LoginResult, type SignedIn } from "./auth.service.ts";
import { enrolTotp } from "./mfa/mfa.service.ts";
import { endProviderSession } from "./oidc/oidc.service.ts";
import { changeOwnPassword } from "./password.service.ts";
import { credentialWrite } from "./credential-cache.ts";
import { userBuckets } from "./quotas.ts";

export const SESSION_COOKIE = "rter_session";
/** Cookie-authenticated writes must carry this header: a cross-site form or image cannot set it. */
export const CSRF_HEADER = "x-requested-with";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Bearer header first (API clients); the HttpOnly cookie second (the web UI). */
export function credentialsFrom(request: Request): { token: string; via: "bearer" | "cookie" } | null {
  const h = request.headers.get("authorization");
  if (h) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m) throw new AppError("unauthorized", "Authorization header must be 'Bearer <token>'");
    return { token: m[1]!, via: "bearer" };
  }
  const cookie = request.headers.get("cookie");
  const m = cookie ? new RegExp(`(?:^|;\\s*)${SESSION_COOKIE}=([^;]+)`).exec(cookie) : null;
  return m ? { token: m[1]!, via: "cookie" } : null;
}

function clientIp(): string {
  return currentRequest()?.ip ?? "unknown";
}

/** HLS playback reads of a stream: the playlist, the init, parts and segments. */
const PLAYBACK_ROUTE = /^\/api\/v1\/streams\/:id\/hls\//;

/**
 * Everything between a request and a signed-in caller: CSRF check for cookie writes, the token
 * (signature, revocation, idle expiry), the per-token rate limit, and the role matrix. Runs
 * before the body is validated, so an anonymous or forbidden caller learns nothing from it.
 * Failed authentication counts against the caller's address (the anonymous limit).
 */
export async function guard(rt: ApiContext, request: Request, route: string): Promise<AuthUser> {
  const db = rt.database.db;
  const settings: AuthSettings = rt.config.security;
  const limits = rt.rateLimits;
  const info = currentRequest();
  let cred;
  try {
    const c = credentialsFrom(request);
    if (c?.via === "cookie" && !SAFE_METHODS.has(request.method) && !request.headers.get(CSRF_HEADER)) {
      throw new AppError("forbidden", `cookie-authenticated ${request.method} requests need the ${CSRF_HEADER} header (CSRF protection)`);
    }
    cred = await authenticate(db, c?.token ?? null, settings, rt.credentials);
  } catch (e) {
    if (e instanceof AppError && e.code === "unauthorized") await limits.enforce(db, "anonymous", `a:${clientIp()}`, settings.rateLimitAnonymous);
    throw e;
  }
  const policy = cred.rateLimitPerMinute ? { limit: cred.rateLimitPerMinute, windowSeconds: 60 } : settings.rateLimit;
  if (info) info.actor = { userId: cred.user.id, email: cred.user.email, role: cred.user.role, tokenId: cred.tokenId, tokenKind: cred.kind };
  const rule = ruleFor(request.method, route);
  const playback = request.method === "GET" && PLAYBACK_ROUTE.test(route);
  if (playback) {
    // Watching live video is many small reads (blocking playlist reloads, parts): one bucket per
    // person of its own, so a grid of tiles neither eats the API budget nor hits 429 itself.
    await limits.enforce(db, "playback", `p:${cred.user.id}`, settings.rateLimitPlayback, "playback reads");
  } else {
    // The token's bucket and the person's (user, reporters' items) in one round trip.
    await limits.enforceAll(db, [{ policyName: "token", key: `t:${cred.tokenId}`, policy }, ...userBuckets(cred, request.method, route, settings)]);
  }
  if (rule && !rule.public && rule.roles[cred.user.role] === "none")
    throw new AppError("forbidden", `the ${cred.user.role} role cannot ${request.method} this`);
  return cred.user;
}

/** Scoped guard: every route of a plugin that `.use`s this gets `user` or answers 401/403/429. */
export function requireUser(rt: ApiContext) {
  return new Elysia({ name: "require-user" })
    .derive(
      { as: "scoped" },
      async ({ request, route }): Promise<{ user: AuthUser }> => ({
        user: await guard(rt, request, route),
      }),
    )
    .onAfterHandle({ as: "scoped" }, ({ request, path }) => {
      if (credentialWrite(request.method, path)) rt.credentials.clear();
    });
}

/** The session cookie: HttpOnly (no script reads it), SameSite=Strict, Secure behind https. */
export function sessionCookie(rt: ApiContext, token: string | null): string {
  const secure = rt.config.http.publicUrl.startsWith("https:") ? "; Secure" : "";
  const age = token ? Math.floor(rt.config.security.sessionMaxMs / 1000) : 0;
  return `${SESSION_COOKIE}=${token ?? ""}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${age}${secure}`;
}

/** Sign-in attempts and invite acceptances, per client address. */
export function limitSignIn(rt: ApiContext): Promise<void> {
  return rt.rateLimits.enforce(rt.database.db, "login", `l:${clientIp()}`, rt.config.security.rateLimitLogin, "sign-in attempts");
}

/** A finished sign-in sets the cookie; a pending one answers 202 with the challenge. */
function signedIn(rt: ApiContext, set: { status?: number | string; headers: Record<string, unknown> }, r: LoginResult) {
  if ("mfa" in r) {
    set.status = 202;
    return {
      mfa_required: true as const,
      challenge: r.mfa.challenge,
      enrolled: r.mfa.enrolled,
      methods: r.mfa.methods,
      expires_at: r.mfa.expiresAt.toISOString(),
      user: r.user,
    };
  }
  return sessionBody(rt, set, r);
}

export function sessionBody(rt: ApiContext, set: { headers: Record<string, unknown> }, r: SignedIn) {
  set.headers["set-cookie"] = sessionCookie(rt, r.token);
  return { token: r.token, user: r.user, expires_at: r.expiresAt.toISOString(), ...(r.recoveryCodes ? { recovery_codes: r.recoveryCodes } : {}) };
}

export function authRoutes(rt: ApiContext) {
  const db = () => rt.database.db;
  return new Elysia({ prefix: "/api/v1/auth", name: "auth" })
    .post(
      "/login",
      async ({ body, set }) => {
        await limitSignIn(rt);
        const who = body.email ?? body.username;
        if (who === undefined) throw new AppError("bad_request", "email (or username) is required");
        return signedIn(rt, set, await login(db(), who, body.password, rt.config.security));
      },
      {
        body: LoginBody,
        response: { 200: LoginResponse, 202: MfaStep },
        detail: {
          tags: ["auth"],
          summary:
            "Exchange email (or directory username) and password for a signed session token (also set as an HttpOnly cookie); 202 with a challenge when a second factor is required; 429 while the address or account is throttled",
        },
      },
    )
    .post(
      "/mfa",
      async ({ body, set }) => {
        await limitSignIn(rt);
        if ((body.code === undefined) === (body.recovery_code === undefined)) throw new AppError("bad_request", "give either code or recovery_code");
        const answer = body.code !== undefined ? { code: body.code } : { recoveryCode: body.recovery_code! };
        return sessionBody(rt, set, await completeSecondFactor(db(), body.challenge, answer, rt.config.security));
      },
      {
        body: MfaAnswerBody,
        response: { 200: LoginResponse },
        detail: {
          tags: ["auth"],
          summary: "Second step of a sign-in: a TOTP code (the first one confirms a new enrolment and returns recovery codes once) or a recovery code",
        },
      },
    )
    .post(
      "/mfa/totp/enrol",
      async ({ body }) => {
        await limitSignIn(rt);
        const r = await enrolTotp(db(), body.challenge);
        return { secret: r.secret, otpauth_uri: r.otpauthUri };
      },
      {
        body: MfaEnrolBody,
        response: { 200: MfaEnrolment },
        detail: {
          tags: ["auth"],
          summary:
            "During a sign-in that needs a second factor the user has not set up: a new TOTP secret (otpauth URI for the app), confirmed by answering POST /auth/mfa",
        },
      },
    )
    .use(requireUser(rt))
    .get("/me", ({ user }) => user, { response: { 200: UserModel }, detail: { tags: ["auth"], summary: "The signed-in user" } })
    .post(
      "/logout",
      // Logout ends the credential that made the call, whatever its kind, so the 204 is true: a
      // session token is ended; an API token is revoked for good (as DELETE /admin/tokens/{id}
      // would, audited as token.revoked), since it has no session to end and must not keep working.
      async ({ set }) => {
        const actor = currentRequest()?.actor;
        if (actor?.tokenKind === "session") {
          await revokeToken(db(), actor.tokenId);
          // A session from the OpenID Connect provider leaves no refresh token behind.
          await endProviderSession(db(), rt.config.security.oidc, actor.tokenId);
          await audit(db(), { action: "logout", targetType: "session", targetId: actor.tokenId });
        } else if (actor?.tokenKind === "api") {
          await revokeApiToken(db(), actor.tokenId);
        }
        set.headers["set-cookie"] = sessionCookie(rt, null);
        set.status = 204;
      },
      { detail: { tags: ["auth"], summary: "End the calling credential: a session ends; an API token is revoked" } },
    )
    .post(
      "/password",
      async ({ user, body }) => {
        const actor = currentRequest()?.actor;
        if (!actor) throw new AppError("unauthorized", "missing bearer token");
        const { sessionsEnded } = await changeOwnPassword(
          db(),
          { user, tokenId: actor.tokenId, kind: actor.tokenKind },
          body.current,
          body.new,
          rt.config.security,
        );
        return { sessions_ended: sessionsEnded };
      },
      {
        body: ChangePasswordBody,
        response: { 200: PasswordChanged },
        detail: {
          tags: ["auth"],
          summary: "Change your own password (12+ characters, not a common one); ends your other sessions. A wrong current password counts toward the lockout",
        },
      },
    );
}
