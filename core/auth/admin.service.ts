import type { Kysely } from "kysely";
import { audit } from "../audit/audit.service.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import * as repo from "./auth.repository.ts";
import type { Role } from "./role.ts";
import { addUser, createToken, type AuthUser } from "./auth.service.ts";

/** Users and API tokens, as administrators manage them. Every change is audited. */

/** A timestamp as RFC 3339, null stays null. */
export const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export async function listUsers(db: Kysely<DB>, limit: number) {
  const rows = await repo.listUsers(db, limit);
  const now = Date.now();
  return rows.map((u) => ({
    id: u.id,
    email: u.email,
    role: u.role,
    created_at: iso(u.created_at)!,
    disabled_at: iso(u.disabled_at),
    locked_until: u.locked_until && new Date(u.locked_until).getTime() > now ? iso(u.locked_until) : null,
    second_factor: { totp: u.totp_enabled_at !== null, passkeys: Number(u.passkeys ?? 0) },
  }));
}

export async function createUser(db: Kysely<DB>, input: { email: string; role: Role; password?: string }) {
  const { user, password } = await addUser(db, input);
  await audit(db, { action: "user.created", targetType: "user", targetId: user.id, detail: { email: user.email, role: user.role } });
  return input.password === undefined ? { user, password } : { user };
}

/**
 * Role changes and disabling end every session and token of the user at once: a demoted
 * operator must not keep an operator session. The last active admin cannot be removed.
 */
export async function updateUser(db: Kysely<DB>, id: string, change: { role?: Role; disabled?: boolean }) {
  return db.transaction().execute(async (trx) => {
    // Serialise concurrent demotions: both would otherwise see two admins and each remove one.
    const before = await repo.lockUserAndAdmins(trx, id);
    if (!before) throw new AppError("not_found", "no such user");
    const losesAdmin = before.role === "admin" && !before.disabled_at && ((change.role !== undefined && change.role !== "admin") || change.disabled === true);
    if (losesAdmin) {
      const { n } = await repo.countActiveAdmins(trx);
      if (Number(n) <= 1) throw new AppError("conflict", "this is the last active admin; make another admin first");
    }
    const set: { role?: Role; disabled_at?: Date | null } = {};
    if (change.role !== undefined && change.role !== before.role) set.role = change.role;
    if (change.disabled !== undefined && change.disabled !== (before.disabled_at !== null)) set.disabled_at = change.disabled ? new Date() : null;
    if (Object.keys(set).length === 0) return { id: before.id, email: before.email, role: before.role };
    const after = (await repo.updateUser(trx, id, set))!;
    let revoked = 0;
    if (set.role !== undefined || set.disabled_at) revoked = (await repo.revokeUserTokens(trx, id)).length;
    if (set.role !== undefined)
      await audit(trx, {
        action: "user.role_changed",
        targetType: "user",
        targetId: id,
        detail: { email: after.email, from: before.role, to: after.role, tokens_revoked: revoked },
      });
    if (set.disabled_at !== undefined)
      await audit(trx, {
        action: set.disabled_at ? "user.disabled" : "user.enabled",
        targetType: "user",
        targetId: id,
        detail: { email: after.email, tokens_revoked: revoked },
      });
    return { id: after.id, email: after.email, role: after.role };
  });
}

export async function unlockUser(db: Kysely<DB>, by: { id: string } | { email: string }) {
  const user = "id" in by ? await repo.findUserById(db, by.id) : await repo.findUserByEmail(db, by.email);
  if (!user) throw new AppError("not_found", "no such user");
  const cleared = await repo.clearLoginFailures(db, user.email);
  await audit(db, {
    action: "user.unlocked",
    targetType: "user",
    targetId: user.id,
    detail: { email: user.email, was_locked: !!cleared?.locked_until && new Date(cleared.locked_until).getTime() > Date.now() },
  });
  return { id: user.id, email: user.email, role: user.role };
}

export async function listTokens(db: Kysely<DB>, opts: { userId?: string; includeRevoked: boolean; limit: number }) {
  const rows = await repo.listTokens(db, opts);
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    user: { id: r.user_id, email: r.user_email, role: r.user_role },
    role: r.role ?? r.user_role,
    rate_limit_per_minute: r.rate_limit_per_minute,
    created_at: iso(r.created_at)!,
    expires_at: iso(r.expires_at),
    revoked_at: iso(r.revoked_at),
    last_used_at: iso(r.last_used_at),
  }));
}

export const DEFAULT_TOKEN_TTL_S = 90 * 86_400;

export async function issueToken(
  db: Kysely<DB>,
  by: AuthUser,
  input: { email?: string; user_id?: string; name: string; role?: Role; ttl_seconds?: number | null; rate_limit_per_minute?: number },
) {
  if ((input.email === undefined) === (input.user_id === undefined)) throw new AppError("bad_request", "give either email or user_id");
  const email = input.email ?? (await repo.findUserById(db, input.user_id!))?.email;
  if (!email) throw new AppError("not_found", "no such user");
  const ttl = input.ttl_seconds === undefined ? DEFAULT_TOKEN_TTL_S : input.ttl_seconds;
  const t = await createToken(db, {
    email,
    name: input.name,
    ttlMs: ttl === null ? null : ttl * 1000,
    role: input.role ?? null,
    rateLimitPerMinute: input.rate_limit_per_minute ?? null,
    createdBy: by.id,
  });
  const role = input.role ?? t.user.role;
  await audit(db, {
    action: "token.created",
    targetType: "token",
    targetId: t.id,
    detail: { name: input.name, user: t.user.email, role, expires_at: iso(t.expiresAt) },
  });
  return { id: t.id, token: t.token, name: input.name, role, user: t.user, expires_at: iso(t.expiresAt) };
}

export async function revokeApiToken(db: Kysely<DB>, id: string) {
  const tok = await repo.findToken(db, id);
  if (!tok || tok.kind !== "api") throw new AppError("not_found", "no such token");
  const r = await repo.revokeToken(db, id);
  if (r) await audit(db, { action: "token.revoked", targetType: "token", targetId: id, detail: { name: tok.name, user_id: tok.user_id } });
}
