import type { Kysely } from "kysely";
import * as client from "openid-client";
import { audit } from "../../audit/audit.service.ts";
import type { OidcConfig } from "../../config/oidc.ts";
import type { DB } from "../../db/schema.ts";
import { AppError } from "../../errors.ts";
import type { AuthSettings, AuthUser } from "../auth.service.ts";
import { insertSession, sessionKey } from "../auth.service.ts";
import { verifySession } from "../token.ts";
import { accountEmail, forAudit, roleFromClaims, usedSecondFactor } from "./claims.ts";
import { roleValues } from "./overage.ts";
import { FLOW_TTL_MS, safeReturnTo, type PendingSignIn } from "./flow.ts";
import { clip, isOutage, providerConfig, reason, unavailable } from "./provider.ts";
import * as repo from "./oidc.repository.ts";
import { changeRole } from "./recheck.ts";

/**
 * Sign-in through an OpenID Connect provider: authorization code with PKCE (S256), state and
 * nonce, the ID token checked by openid-client (signature, issuer, audience, expiry, nonce). The
 * role claim's values give the role through --oidc-role-map; the account is linked by issuer and
 * subject only. The session keeps the refresh token, so its groups are read again every
 * --oidc-recheck, the way a directory account's are.
 */

/** Why an OIDC sign-in was refused (audited as login.failed's reason). */
export type OidcDenial =
  | "state_mismatch"
  | "provider_refused"
  | "token_rejected"
  | "bad_subject"
  | "no_group"
  | "no_second_factor"
  | "disabled"
  | "email_taken"
  | "group_overage";

export async function beginSignIn(cfg: OidcConfig, returnTo: string | null | undefined): Promise<{ url: string; pending: PendingSignIn }> {
  const config = await providerConfig(cfg);
  const verifier = client.randomPKCECodeVerifier();
  const pending: PendingSignIn = {
    state: client.randomState(),
    nonce: client.randomNonce(),
    verifier,
    returnTo: safeReturnTo(returnTo),
    expiresAt: Date.now() + FLOW_TTL_MS,
  };
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: cfg.redirectUrl,
    scope: cfg.scopes.join(" "),
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state: pending.state,
    nonce: pending.nonce,
  });
  return { url: url.href, pending };
}

async function refuse(db: Kysely<DB>, error: AppError, why: OidcDenial, detail: Record<string, unknown> = {}, userId?: string): Promise<never> {
  await audit(db, {
    action: "login.failed",
    targetType: "user",
    targetId: userId ?? (typeof detail.subject === "string" ? detail.subject : "oidc"),
    actor: null,
    detail: { via: "oidc", reason: why, ...detail },
  });
  throw error;
}

export interface OidcSignedIn {
  token: string;
  expiresAt: Date;
  user: AuthUser;
  returnTo: string;
}

/** The callback: checks state, exchanges the code, maps the claims, links the account, starts a session. */
export async function finishSignIn(
  db: Kysely<DB>,
  settings: AuthSettings,
  cfg: OidcConfig,
  query: URLSearchParams,
  pending: PendingSignIn,
): Promise<OidcSignedIn> {
  // Compared here too, before anything is sent to the provider, for a clear answer.
  if (query.get("state") !== pending.state) {
    await refuse(
      db,
      new AppError(
        "bad_request",
        "the sign-in's state does not match the one this browser started (a stale, replayed or forged callback); start the sign-in again",
      ),
      "state_mismatch",
    );
  }
  const config = await providerConfig(cfg);
  const current = new URL(cfg.redirectUrl);
  for (const [k, v] of query) current.searchParams.append(k, v);
  let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
  try {
    tokens = await client.authorizationCodeGrant(config, current, {
      pkceCodeVerifier: pending.verifier,
      expectedState: pending.state,
      expectedNonce: pending.nonce,
      idTokenExpected: true,
    });
  } catch (e) {
    if (isOutage(e)) throw unavailable(cfg, e);
    if (e instanceof client.AuthorizationResponseError) {
      await refuse(db, new AppError("unauthorized", `the identity provider did not sign you in: ${reason(e)}`), "provider_refused", {
        error: clip(e.error, 100),
      });
    }
    await refuse(db, new AppError("unauthorized", `the identity provider's answer was refused: ${reason(e)}; start the sign-in again`), "token_rejected", {
      error: reason(e),
    });
  }
  const claims = tokens!.claims() as Record<string, unknown>;
  const subject = claims.sub;
  // OIDC Core §2: sub is at most 255 ASCII characters.
  if (typeof subject !== "string" || subject.length === 0 || subject.length > 255 || /[^\x20-\x7e]/.test(subject)) {
    await refuse(db, new AppError("unauthorized", "the identity provider sent no usable subject (sub) for this account"), "bad_subject");
  }
  const sub = subject as string;
  const known = await repo.findByIdentity(db, cfg.issuer, sub);
  const read = await roleValues(cfg, claims, tokens!.access_token);
  if ("refused" in read) {
    await refuse(db, new AppError("forbidden", read.refused), "group_overage", { subject: sub, claim: cfg.roleClaim, error: read.error }, known?.id);
  }
  const { values, source: groupsFrom } = read as Exclude<typeof read, { refused: string }>;
  const { role, matched } = roleFromClaims(cfg.roleMap, values);
  if (!role) {
    await refuse(
      db,
      new AppError(
        "forbidden",
        `your account at the identity provider is in none of the groups rter admits (claim "${cfg.roleClaim}"${values.length ? "" : " is missing or empty"}); ask an administrator to add you to one of rter's groups`,
      ),
      "no_group",
      { subject: sub, claim: cfg.roleClaim, values: forAudit(values), value_count: values.length },
      known?.id,
    );
  }
  if (settings.mfaRequired.includes(role!) && !usedSecondFactor(claims)) {
    await refuse(
      db,
      new AppError(
        "forbidden",
        `the ${role} role needs a second factor, and the identity provider did not report one for this sign-in (amr); sign in at the provider with your second factor`,
      ),
      "no_second_factor",
      { subject: sub, role },
      known?.id,
    );
  }
  const email = accountEmail(claims, cfg);
  let row;
  try {
    row = await repo.upsertOidcUser(db, { issuer: cfg.issuer, subject: sub, email, role: role! });
  } catch (e) {
    if ((e as { code?: string }).code === "23505") {
      await refuse(
        db,
        new AppError("conflict", `another rter account already uses ${email}; an admin must rename or remove it`),
        "email_taken",
        { subject: sub, email },
        known?.id,
      );
    }
    throw e;
  }
  if (row!.disabled_at)
    await refuse(db, new AppError("forbidden", "this rter account is disabled; an administrator can enable it"), "disabled", { subject: sub }, row!.id);
  const user: AuthUser = { id: row!.id, email: row!.email, role: row!.role };
  if (known && known.role !== user.role) await changeRole(db, user, known.role, matched);
  await repo.deleteEndedSessions(db, user.id);
  const key = await sessionKey(db, settings.sessionSecret);
  const s = await db.transaction().execute(async (trx) => {
    const created = await insertSession(trx, key, user, settings, "oidc");
    const claimsOf = verifySession(key, created.token);
    if (!claimsOf || claimsOf === "expired") throw new Error("a session token just made does not verify");
    await repo.insertSession(trx, {
      tokenId: claimsOf.sessionId,
      userId: user.id,
      refreshToken: tokens!.refresh_token ?? null,
      idToken: tokens!.id_token ?? null,
    });
    return created;
  });
  await audit(db, {
    action: "login",
    targetType: "user",
    targetId: user.id,
    actor: { id: user.id, email: user.email, role: user.role },
    detail: {
      via: "oidc",
      issuer: cfg.issuer,
      groups: forAudit(matched),
      ...(groupsFrom === "endpoint" ? { groups_from: "endpoint", group_count: values.length } : {}),
      second_factor: usedSecondFactor(claims),
      refresh: Boolean(tokens!.refresh_token),
    },
  });
  return { token: s.token, expiresAt: s.expiresAt, user, returnTo: pending.returnTo };
}

/**
 * Logout's provider half: forgets the session's provider tokens, asks the provider to revoke the
 * refresh token (best effort: the local session is already over), and returns the provider's
 * RP-initiated logout URL when it has one, for the browser to visit; null otherwise.
 */
export async function endProviderSession(db: Kysely<DB>, cfg: OidcConfig | null, tokenId: string): Promise<{ endSessionUrl: string | null; revoked: boolean }> {
  const gone = await repo.deleteSession(db, tokenId);
  if (!gone || !cfg) return { endSessionUrl: null, revoked: false };
  let config: client.Configuration;
  try {
    config = await providerConfig(cfg);
  } catch {
    return { endSessionUrl: null, revoked: false };
  }
  let revoked = false;
  if (gone.refresh_token && config.serverMetadata().revocation_endpoint) {
    revoked = await client.tokenRevocation(config, gone.refresh_token, { token_type_hint: "refresh_token" }).then(
      () => true,
      () => false,
    );
  }
  if (!config.serverMetadata().end_session_endpoint) return { endSessionUrl: null, revoked };
  const params: Record<string, string> = { post_logout_redirect_uri: cfg.postLogoutUrl };
  if (gone.id_token) params.id_token_hint = gone.id_token;
  return { endSessionUrl: client.buildEndSessionUrl(config, params).href, revoked };
}
