import { Elysia, t } from "elysia";
import { audit } from "../../audit/audit.service.ts";
import { AppError } from "../../errors.ts";
import { currentRequest } from "../../request-context.ts";
import type { ApiContext } from "../../runtime.ts";
import { limitSignIn, requireUser, sessionCookie } from "../auth.http.ts";
import { revokeToken } from "../auth.repository.ts";
import { sessionKey } from "../auth.service.ts";
import { cookieValue, FLOW_COOKIE, FLOW_TTL_MS, openFlow, sealFlow } from "./flow.ts";
import { beginSignIn, endProviderSession, finishSignIn } from "./oidc.service.ts";

const PREFIX = "/api/v1/auth/oidc";

const OidcInfo = t.Object({ enabled: t.Boolean(), name: t.Union([t.String(), t.Null()]), start_url: t.Union([t.String(), t.Null()]) });
const OidcLogout = t.Object({ end_session_url: t.Union([t.String(), t.Null()]) });

/**
 * The flow cookie: HttpOnly, only sent to these routes, and SameSite=Lax — the provider sends the
 * browser back with a top-level GET from its own site, which a Strict cookie would not join.
 */
function flowCookie(rt: ApiContext, value: string | null): string {
  const secure = rt.config.http.publicUrl.startsWith("https:") ? "; Secure" : "";
  return `${FLOW_COOKIE}=${value ?? ""}; Path=${PREFIX}; HttpOnly; SameSite=Lax; Max-Age=${value ? Math.floor(FLOW_TTL_MS / 1000) : 0}${secure}`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * After the callback the browser lands on rter's page through this tiny document rather than a
 * redirect: the chain that came from the provider's site is cross-site, so a SameSite=Strict
 * session cookie would not go with a redirect's next request; a navigation this page starts is
 * same-site and carries it.
 */
function landingPage(to: string): string {
  const href = escapeHtml(to);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${href}"><title>Signed in</title></head><body><p>Signed in. <a href="${href}">Continue</a></p></body></html>`;
}

/**
 * The callback is a page the browser lands on: a refusal is shown to the person as a short page
 * (the same message, escaped, with the status) when the browser asks for HTML; API clients and
 * tests that ask for anything else get the usual problem+json.
 */
function refusalPage(e: AppError): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in refused</title></head><body><h1>Sign-in refused</h1><p role="alert">${escapeHtml(e.message)}</p><p><a href="/">Back to rter</a></p></body></html>`;
}

const wantsHtml = (request: Request) => /\btext\/html\b/.test(request.headers.get("accept") ?? "");

export function oidcRoutes(rt: ApiContext) {
  const db = () => rt.database.db;
  const cfg = () => rt.config.security.oidc;
  const configured = () => {
    const c = cfg();
    if (!c) throw new AppError("not_found", "OpenID Connect sign-in is not configured on this server (--oidc-issuer)");
    return c;
  };
  type Set = { status?: number | string; headers: Record<string, unknown> };
  const callback = async (request: Request, set: Set) => {
    const c = configured();
    await limitSignIn(rt);
    const key = await sessionKey(db(), rt.config.security.sessionSecret);
    const pending = openFlow(key, cookieValue(request, FLOW_COOKIE));
    // The flow cookie is spent whatever happens next: a callback is answered once.
    set.headers["set-cookie"] = flowCookie(rt, null);
    if (typeof pending === "string") {
      if (pending === "forged")
        await audit(db(), {
          action: "login.failed",
          targetType: "user",
          targetId: "oidc",
          actor: null,
          detail: { via: "oidc", reason: "state_mismatch", cookie: "forged" },
        });
      throw new AppError(
        "bad_request",
        pending === "expired"
          ? "this sign-in took longer than 10 minutes; start it again"
          : "no OpenID Connect sign-in was started in this browser (or its cookie was blocked or altered); start the sign-in again",
      );
    }
    const query = new URL(request.url).searchParams;
    if ([...query.keys()].length > 20 || request.url.length > 8192) throw new AppError("bad_request", "the callback carries too many or too long parameters");
    const r = await finishSignIn(db(), rt.config.security, c, query, pending);
    set.headers["set-cookie"] = [flowCookie(rt, null), sessionCookie(rt, r.token)] as unknown as string;
    set.headers["content-type"] = "text/html; charset=utf-8";
    set.headers["cache-control"] = "no-store";
    return landingPage(r.returnTo);
  };
  return new Elysia({ prefix: PREFIX, name: "auth-oidc" })
    .get("", () => ({ enabled: cfg() !== null, name: cfg()?.displayName ?? null, start_url: cfg() ? `${PREFIX}/start` : null }), {
      response: { 200: OidcInfo },
      detail: { tags: ["auth"], summary: "Whether sign-in through the organisation's OpenID Connect provider is offered (for the sign-in pages)" },
    })
    .get(
      "/start",
      async ({ query, set }) => {
        const c = configured();
        await limitSignIn(rt);
        const { url, pending } = await beginSignIn(c, query.return_to);
        set.headers["set-cookie"] = flowCookie(rt, sealFlow(await sessionKey(db(), rt.config.security.sessionSecret), pending));
        set.headers["cache-control"] = "no-store";
        set.headers.location = url;
        set.status = 303;
      },
      {
        query: t.Object({ return_to: t.Optional(t.String({ maxLength: 512 })) }, { additionalProperties: false }),
        detail: {
          tags: ["auth"],
          summary:
            "Start a sign-in at the OpenID Connect provider: 303 to its authorization endpoint (code flow with PKCE, state and nonce kept in an HttpOnly cookie); 503 when the provider does not answer",
        },
      },
    )
    .get(
      "/callback",
      async ({ request, set }) => {
        try {
          return await callback(request, set);
        } catch (e) {
          if (!(e instanceof AppError) || !wantsHtml(request)) throw e;
          set.status = e.status;
          set.headers["content-type"] = "text/html; charset=utf-8";
          set.headers["cache-control"] = "no-store";
          if (e.retryAfterSeconds) set.headers["retry-after"] = String(e.retryAfterSeconds);
          return refusalPage(e);
        }
      },
      {
        detail: {
          tags: ["auth"],
          summary:
            "Where the provider sends the browser back: checks state, exchanges the code (PKCE), checks the ID token and nonce, maps the role claim; sets the session cookie and continues to the page the sign-in started from. 400 stale or forged state, 401 refused by the provider, 403 in no mapped group, 503 provider down (a short HTML page for browsers, else problem+json)",
        },
      },
    )
    .use(requireUser(rt))
    .post(
      "/logout",
      async ({ set }) => {
        const actor = currentRequest()?.actor;
        if (actor?.tokenKind !== "session")
          throw new AppError("bad_request", "only a signed-in session signs out through the provider; an API token is revoked with POST /api/v1/auth/logout");
        await revokeToken(db(), actor.tokenId);
        const { endSessionUrl, revoked } = await endProviderSession(db(), cfg(), actor.tokenId);
        await audit(db(), {
          action: "logout",
          targetType: "session",
          targetId: actor.tokenId,
          detail: { via: "oidc", provider_logout: endSessionUrl !== null, refresh_token_revoked: revoked },
        });
        // The cookie is cleared by the answer itself; the page then visits end_session_url, if any.
        set.headers["set-cookie"] = sessionCookie(rt, null);
        return { end_session_url: endSessionUrl };
      },
      {
        response: { 200: OidcLogout },
        detail: {
          tags: ["auth"],
          summary:
            "End the calling session here and at the provider: the session ends, the provider's refresh token is revoked, and end_session_url (RP-initiated logout, when the provider offers it) is returned for the browser to visit",
        },
      },
    );
}
