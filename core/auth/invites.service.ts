import type { Kysely } from "kysely";
import { audit } from "../audit/audit.service.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { revokeUserTokens } from "./auth.repository.ts";
import { insertSession, publicUser, sessionKey, type AuthSettings, type AuthUser } from "./auth.service.ts";
import { iso } from "./admin.service.ts";
import { roleCovers } from "./guards.ts";
import * as repo from "./invites.repository.ts";
import { hashToken } from "./token.ts";

/**
 * Invite links: one-time, expiring, role-bound, revocable. The link /join/<token> lands on a page
 * that POSTs the token to /api/v1/invites/accept, which creates an account of the invite's role
 * (invite-<id>@invite.local, no password) and signs it in exactly like a login.
 *
 * A used, expired or revoked invite answers 410 Gone; a token that never existed 401.
 */
export type InviteRole = "operator" | "reporter" | "viewer";

const INVITE_PREFIX = "inv_";
export const DEFAULT_INVITE_TTL_S = 24 * 3600;

function newInviteToken(): string {
  return INVITE_PREFIX + Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}

function looksLikeInvite(s: string): boolean {
  return s.length === INVITE_PREFIX.length + 43 && s.startsWith(INVITE_PREFIX) && /^[A-Za-z0-9_-]+$/.test(s);
}

export async function createInvite(db: Kysely<DB>, by: AuthUser, input: { role?: InviteRole; ttl_seconds?: number; note?: string }) {
  const role = input.role ?? "reporter";
  // Operators bring in the field (reporters, viewers); new operators come from an admin.
  if (!roleCovers(by.role, role) || (role === "operator" && by.role !== "admin")) throw new AppError("forbidden", `a ${by.role} cannot invite a ${role}`);
  const token = newInviteToken();
  const expiresAt = new Date(Date.now() + (input.ttl_seconds ?? DEFAULT_INVITE_TTL_S) * 1000);
  const note = (input.note ?? "").trim();
  const row = await repo.insertInvite(db, { token_hash: hashToken(token), role, note, created_by: by.id, expires_at: expiresAt });
  await audit(db, { action: "invite.created", targetType: "invite", targetId: row.id, detail: { role, note, expires_at: iso(row.expires_at) } });
  return { id: row.id, token, url: `/join/${token}`, role, note, expires_at: iso(row.expires_at)! };
}

type InviteRow = { revoked_at: Date | string | null; used_at: Date | string | null; expires_at: Date | string };

function stateOf(r: InviteRow, now = Date.now()): "open" | "used" | "expired" | "revoked" {
  if (r.revoked_at) return "revoked";
  if (r.used_at) return "used";
  return new Date(r.expires_at).getTime() <= now ? "expired" : "open";
}

export async function listInvites(db: Kysely<DB>, opts: { openOnly: boolean; limit: number }) {
  const rows = await repo.listInvites(db, opts);
  return rows.map((r) => ({
    id: r.id,
    role: r.role,
    note: r.note,
    state: stateOf(r),
    created_by: r.created_by,
    created_at: iso(r.created_at)!,
    expires_at: iso(r.expires_at)!,
    used_at: iso(r.used_at),
    used_by: r.used_by,
    revoked_at: iso(r.revoked_at),
  }));
}

/** Revoking an unused invite kills the link; revoking a used one also signs its account out and disables it. */
export async function revokeInvite(db: Kysely<DB>, by: AuthUser, id: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const inv = await repo.lockInvite(trx, id);
    if (!inv) throw new AppError("not_found", "no such invite");
    if (!inv.revoked_at) await repo.markRevoked(trx, id, by.id);
    let tokens = 0;
    if (inv.used_by) {
      tokens = (await revokeUserTokens(trx, inv.used_by)).length;
      await repo.disableInvitedUser(trx, inv.used_by);
    }
    await audit(trx, {
      action: "invite.revoked",
      targetType: "invite",
      targetId: id,
      detail: { was: stateOf(inv), user_id: inv.used_by, tokens_revoked: tokens },
    });
  });
}

export async function acceptInvite(db: Kysely<DB>, token: string, settings: AuthSettings): Promise<{ token: string; user: AuthUser; expiresAt: Date }> {
  if (!looksLikeInvite(token)) throw new AppError("unauthorized", "not an invite token");
  const hash = hashToken(token);
  // Loaded before the transaction: the first load is a query, and a transaction must never wait
  // for a second pool connection (twenty of them holding one each would starve the pool).
  const key = await sessionKey(db, settings.sessionSecret);
  // One transaction: the invite is never spent without the session that it bought.
  const outcome = await db.transaction().execute(async (trx) => {
    // The conditional update is the one-time switch: of two concurrent uses, exactly one wins.
    const inv = await repo.spendInvite(trx, hash);
    if (!inv) {
      // Nothing was written: the refusal is decided here and recorded after the connection is back.
      const seen = await repo.findInviteByHash(trx, hash);
      return { kind: "refused" as const, seen: seen ?? null };
    }
    const created = await repo.insertInvitedUser(trx, inv.id, inv.role);
    await repo.setInviteUser(trx, inv.id, created.id);
    await audit(trx, {
      action: "invite.accepted",
      targetType: "invite",
      targetId: inv.id,
      actor: { id: created.id, email: created.email, role: created.role },
      detail: { role: inv.role },
    });
    const user = publicUser(created);
    const { token: session, expiresAt } = await insertSession(trx, key, user, settings, "invite");
    return { kind: "accepted" as const, token: session, user, expiresAt };
  });
  if (outcome.kind === "accepted") return { token: outcome.token, user: outcome.user, expiresAt: outcome.expiresAt };
  const seen = outcome.seen;
  if (!seen) throw new AppError("unauthorized", "unknown invite");
  const state = stateOf(seen);
  await audit(db, { action: "invite.refused", targetType: "invite", targetId: seen.id, actor: null, detail: { state } });
  throw new AppError("gone", `this invite link is ${state}; ask for a new one`, { detail: { state } });
}
