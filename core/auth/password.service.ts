import type { Kysely } from "kysely";
import { audit } from "../audit/audit.service.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import * as repo from "./auth.repository.ts";
import { generatePassword, type AuthSettings, type AuthUser, type Credential } from "./auth.service.ts";
import { checkPassword, MAX_PASSWORD } from "./password-policy.ts";

/**
 * Changing a password ends the user's other sessions (signed-in browsers and apps): whoever
 * knew the old password and signed in with it is out. API tokens stay: they were issued by an
 * admin, never derived from the password, and are revoked on their own (DELETE
 * /api/v1/admin/tokens/{id}). Open event streams of the ended sessions close within seconds
 * (core/events/credential-watch.ts). Every change is audited, never with the password.
 */

export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, "argon2id");
}

/**
 * The signed-in user changes their own password. The current password is checked like a sign-in
 * (a wrong one counts toward the account's lockout, so a stolen session cannot guess it).
 */
export async function changeOwnPassword(
  db: Kysely<DB>,
  cred: Pick<Credential, "user" | "tokenId" | "kind">,
  current: string,
  next: string,
  settings: AuthSettings,
): Promise<{ sessionsEnded: number }> {
  const user = await repo.findUserByEmail(db, cred.user.email);
  if (!user || user.disabled_at) throw new AppError("unauthorized", "invalid, expired or revoked token");
  if (user.directory_dn) throw new AppError("conflict", "this account's password is kept by the directory (LDAP / AD); change it there");
  if (!user.password_hash) throw new AppError("conflict", "this account signs in without a password (an invite link); an admin can set one");
  if (current.length > MAX_PASSWORD) throw new AppError("forbidden", "the current password is wrong");
  const attempt = await repo.reserveLoginAttempt(db, user.email);
  if (attempt.locked_for !== null && attempt.locked_for > 0) throw locked(attempt.locked_for);
  if (!(await Bun.password.verify(current, user.password_hash))) {
    const lockedFor = await repo.lockIfOver(db, user.email, settings.loginMaxFailures, settings.loginLockoutMs);
    await audit(db, {
      action: "user.password_change_refused",
      targetType: "user",
      targetId: user.id,
      detail: { reason: "wrong current password", locked: lockedFor !== null },
    });
    if (lockedFor !== null) throw locked(lockedFor);
    throw new AppError("forbidden", "the current password is wrong");
  }
  await repo.clearLoginFailures(db, user.email);
  checkPassword(next, { email: user.email, current });
  // Hashed before the transaction: 100+ ms of CPU must not hold a pool connection.
  const hash = await hashPassword(next);
  const keep = cred.kind === "session" ? cred.tokenId : null;
  const ended = await db.transaction().execute(async (trx) => {
    await repo.setPasswordHash(trx, user.id, hash);
    const gone = await repo.revokeUserSessions(trx, user.id, keep);
    await audit(trx, { action: "user.password_changed", targetType: "user", targetId: user.id, detail: { by: "self", sessions_ended: gone.length } });
    return gone.length;
  });
  return { sessionsEnded: ended };
}

/**
 * An admin (API) or an operator of the machine (CLI) sets a user's password; without one, a
 * random one is made and returned once. Every session of the user ends.
 */
export async function resetPassword(
  db: Kysely<DB>,
  target: { id: string } | { email: string },
  password: string | undefined,
  by: "admin" | "cli",
): Promise<{ user: AuthUser; password?: string; sessionsEnded: number }> {
  const user = "id" in target ? await repo.findUserById(db, target.id) : await repo.findUserByEmail(db, target.email);
  if (!user) throw new AppError("not_found", "no such user");
  // A password set here would never be asked: directory accounts sign in at the directory.
  if (user.directory_dn) throw new AppError("conflict", "this account's password is kept by the directory (LDAP / AD); it cannot be set in rter");
  const chosen = password ?? generatePassword();
  checkPassword(chosen, { email: user.email });
  const hash = await hashPassword(chosen);
  const ended = await db.transaction().execute(async (trx) => {
    await repo.setPasswordHash(trx, user.id, hash);
    const gone = await repo.revokeUserSessions(trx, user.id, null);
    await audit(trx, {
      action: "user.password_reset",
      targetType: "user",
      targetId: user.id,
      detail: { by, email: user.email, sessions_ended: gone.length, generated: password === undefined },
      ...(by === "cli" ? { actor: null } : {}),
    });
    return gone.length;
  });
  // A forgotten password often ends in a lockout: a new password lifts it.
  await repo.clearLoginFailures(db, user.email);
  return { user: { id: user.id, email: user.email, role: user.role }, ...(password === undefined ? { password: chosen } : {}), sessionsEnded: ended };
}

function locked(seconds: number): AppError {
  const s = Math.max(1, Math.ceil(seconds));
  return new AppError("rate_limited", `too many wrong passwords for this account: it is locked for ${s} s (an admin can unlock it)`, { retryAfterSeconds: s });
}
