import type { Kysely } from "kysely";
import * as client from "openid-client";
import { audit } from "../../audit/audit.service.ts";
import type { OidcConfig } from "../../config/oidc.ts";
import type { DB, UserRole } from "../../db/schema.ts";
import { AppError } from "../../errors.ts";
import { forAudit, roleFromClaims } from "./claims.ts";
import { roleValues } from "./overage.ts";
import { revokeToken, revokeUserTokens } from "../auth.repository.ts";
import { roleCovers } from "../guards.ts";
import * as repo from "./oidc.repository.ts";
import { isOutage, providerConfig, reason, unavailable } from "./provider.ts";

// The re-check of sessions started through the provider; apart from the sign-in so the request
// guard (auth.service.ts) can use it without importing the sign-in's own dependencies.

/**
 * The provider moved the account to another role. Lowered (the new role does not cover the old
 * one), its API tokens are revoked, as an admin's role change does: they were made for the old
 * role and are never re-checked against the provider themselves. Sessions stay: each is
 * re-checked, and all act with the account's role as it is now.
 */
export async function changeRole(db: Kysely<DB>, user: { id: string; email: string; role: UserRole }, from: UserRole, matched: string[]) {
  const revoked = roleCovers(user.role, from) ? [] : await repo.revokeApiTokens(db, user.id);
  await audit(db, {
    action: "user.role_changed",
    targetType: "user",
    targetId: user.id,
    actor: null,
    detail: { email: user.email, from, to: user.role, via: "oidc", groups: forAudit(matched), tokens_revoked: revoked.length },
  });
}

// One re-check per session at a time in this process; other nodes are kept out by claimRecheck.
const inFlight = new Map<string, Promise<OidcRecheck>>();

export type OidcRecheck = { role: UserRole } | { ended: string } | null;

/**
 * A session started through the provider is re-checked on its first request after --oidc-recheck:
 * the refresh grant returns a new ID token whose role claim gives the role again. Refused by the
 * provider (the account was removed, disabled or its sessions revoked) or in no mapped group any
 * more: the account is disabled here (user.disabled, via oidc) until its next good sign-in.
 * Without a refresh token the session ends instead (sign in again). A provider that does not
 * answer is a 503: access is not extended on stale knowledge.
 */
export async function recheckOidcSession(
  db: Kysely<DB>,
  cfg: OidcConfig | null,
  row: { token_id: string; kind: "api" | "session"; id: string; email: string; role: UserRole; oidc_subject: string | null },
): Promise<OidcRecheck> {
  if (!row.oidc_subject || row.kind !== "session") return null;
  if (!cfg) return { ended: "oidc_not_configured" };
  let p = inFlight.get(row.token_id);
  if (!p) {
    p = recheck(db, cfg, row).finally(() => inFlight.delete(row.token_id));
    inFlight.set(row.token_id, p);
  }
  return p;
}

async function recheck(
  db: Kysely<DB>,
  cfg: OidcConfig,
  row: { token_id: string; id: string; email: string; role: UserRole; oidc_subject: string | null },
): Promise<OidcRecheck> {
  const session = await repo.findSession(db, row.token_id);
  if (!session) return { ended: "no_provider_session" };
  if (Date.now() - new Date(session.checked_at).getTime() < cfg.recheckMs) return null;
  const old = await repo.claimRecheck(db, row.token_id, cfg.recheckMs);
  // Another request or node is re-checking it right now: this one goes on as before.
  if (!old) return null;
  if (!session.refresh_token) {
    await endSession(db, row, "no_refresh_token");
    return { ended: "no_refresh_token" };
  }
  let refreshed: Awaited<ReturnType<typeof client.refreshTokenGrant>>;
  let claims: Record<string, unknown> | undefined;
  try {
    const config = await providerConfig(cfg);
    refreshed = await client.refreshTokenGrant(config, session.refresh_token);
    claims = refreshed.claims() as Record<string, unknown> | undefined;
    if (!claims && config.serverMetadata().userinfo_endpoint)
      claims = (await client.fetchUserInfo(config, refreshed.access_token, row.oidc_subject!)) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof AppError || isOutage(e)) {
      await repo.releaseRecheck(db, row.token_id, old);
      throw e instanceof AppError ? e : unavailable(cfg, e);
    }
    await disable(db, row, "refresh_refused", { error: reason(e) });
    return { ended: "refresh_refused" };
  }
  if (!claims || claims.sub !== row.oidc_subject) {
    await disable(db, row, "refresh_refused", { error: "the refreshed ID token names another subject or none" });
    return { ended: "refresh_refused" };
  }
  // Kept before the groups are read: a provider that rotates refresh tokens has spent the old one.
  await repo.recordRefresh(db, row.token_id, { refreshToken: refreshed!.refresh_token ?? null, idToken: refreshed!.id_token ?? null });
  let read: Awaited<ReturnType<typeof roleValues>>;
  try {
    read = await roleValues(cfg, claims, refreshed!.access_token);
  } catch (e) {
    // The groups endpoint did not answer: like the provider itself, a 503 and the re-check given back.
    await repo.releaseRecheck(db, row.token_id, old);
    throw e;
  }
  if ("refused" in read) {
    await disable(db, row, "group_overage", { error: read.error });
    return { ended: "group_overage" };
  }
  const { role, matched } = roleFromClaims(cfg.roleMap, read.values);
  if (!role) {
    await disable(db, row, "no_group", {});
    return { ended: "no_group" };
  }
  await repo.recordCheck(db, row.id, { role });
  if (role !== row.role) await changeRole(db, { id: row.id, email: row.email, role }, row.role, matched);
  return { role };
}

async function endSession(db: Kysely<DB>, row: { token_id: string; id: string; email: string }, why: string) {
  await revokeToken(db, row.token_id);
  await repo.deleteSession(db, row.token_id);
  await audit(db, {
    action: "session.ended",
    targetType: "session",
    targetId: row.token_id,
    actor: null,
    detail: { email: row.email, via: "oidc", reason: why },
  });
}

/**
 * Disables the account and ends everything it holds: its sessions and tokens are revoked (not
 * only refused while disabled), so a later good sign-in that enables the account again does not
 * bring an old, perhaps stolen, session back; its provider tokens are forgotten.
 */
async function disable(db: Kysely<DB>, row: { token_id: string; id: string; email: string }, why: string, detail: Record<string, unknown>) {
  await repo.recordCheck(db, row.id, { disabled: true });
  const revoked = await revokeUserTokens(db, row.id);
  await repo.deleteUserSessions(db, row.id);
  await audit(db, {
    action: "user.disabled",
    targetType: "user",
    targetId: row.id,
    actor: null,
    detail: { email: row.email, via: "oidc", reason: why, tokens_revoked: revoked.length, ...detail },
  });
}
