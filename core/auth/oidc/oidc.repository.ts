import { sql, type Kysely, type Transaction } from "kysely";
import type { DB, UserRole } from "../../db/schema.ts";

/** Thin queries on accounts and sessions that come from an OpenID Connect provider; `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

export function findByIdentity(db: Db, issuer: string, subject: string) {
  return db
    .selectFrom("users")
    .select(["id", "email", "role", "disabled_at"])
    .where("oidc_issuer", "=", issuer)
    .where("oidc_subject", "=", subject)
    .executeTakeFirst();
}

/**
 * Creates or refreshes the account linked to (issuer, subject) after a sign-in the provider
 * confirmed. An account the re-check disabled (disabled_at <= oidc_checked_at) is enabled again;
 * one an admin disabled later stays disabled.
 */
export async function upsertOidcUser(db: Db, u: { issuer: string; subject: string; email: string; role: UserRole }) {
  const { rows } = await sql<{ id: string; email: string; role: UserRole; disabled_at: Date | null }>`
    insert into users (email, role, password_hash, oidc_issuer, oidc_subject, oidc_checked_at)
    values (${u.email}, ${u.role}, null, ${u.issuer}, ${u.subject}, now())
    on conflict (oidc_issuer, oidc_subject) do update set
      email = excluded.email,
      role = excluded.role,
      disabled_at = case when users.disabled_at is not null and users.disabled_at <= users.oidc_checked_at then null else users.disabled_at end,
      oidc_checked_at = now()
    returning id, email, role, disabled_at`.execute(db);
  return rows[0]!;
}

/** The re-check's outcome on the account: the role now, or disabled (with oidc_checked_at alike). */
export function recordCheck(db: Db, userId: string, set: { role: UserRole } | { disabled: true }) {
  const q = db.updateTable("users").where("id", "=", userId).where("oidc_subject", "is not", null);
  return (
    "disabled" in set ? q.set({ disabled_at: sql`now()`, oidc_checked_at: sql`now()` }) : q.set({ role: set.role, oidc_checked_at: sql`now()` })
  ).execute();
}

export function insertSession(db: Db, s: { tokenId: string; userId: string; refreshToken: string | null; idToken: string | null }) {
  return db.insertInto("oidc_sessions").values({ token_id: s.tokenId, user_id: s.userId, refresh_token: s.refreshToken, id_token: s.idToken }).execute();
}

export function findSession(db: Db, tokenId: string) {
  return db.selectFrom("oidc_sessions").selectAll().where("token_id", "=", tokenId).executeTakeFirst();
}

/**
 * Claims the re-check of a session that is due: moves checked_at to now only while it is older
 * than `dueMs`, so of two nodes (or requests) seeing it due, exactly one refreshes — providers
 * that rotate refresh tokens revoke the whole chain when one is used twice. Returns the old
 * checked_at to give back when the provider did not answer, or null when not claimed.
 */
export async function claimRecheck(db: Db, tokenId: string, dueMs: number): Promise<Date | null> {
  const { rows } = await sql<{ old: Date }>`
    update oidc_sessions s set checked_at = now()
      from (select token_id, checked_at as old from oidc_sessions where token_id = ${tokenId} for update) o
     where s.token_id = o.token_id and o.old <= now() - ${dueMs} * interval '1 millisecond'
    returning o.old`.execute(db);
  return rows[0]?.old ?? null;
}

/** Gives a claimed re-check back (the provider did not answer): the next request tries again. */
export function releaseRecheck(db: Db, tokenId: string, old: Date) {
  return db.updateTable("oidc_sessions").set({ checked_at: old }).where("token_id", "=", tokenId).execute();
}

export function recordRefresh(db: Db, tokenId: string, t: { refreshToken: string | null; idToken: string | null }) {
  return db
    .updateTable("oidc_sessions")
    .set({ checked_at: sql`now()`, ...(t.refreshToken ? { refresh_token: t.refreshToken } : {}), ...(t.idToken ? { id_token: t.idToken } : {}) })
    .where("token_id", "=", tokenId)
    .execute();
}

/** Forgets a session's provider tokens (logout, or the session ended): nothing dormant stays behind. */
export function deleteSession(db: Db, tokenId: string) {
  return db.deleteFrom("oidc_sessions").where("token_id", "=", tokenId).returning(["refresh_token", "id_token"]).executeTakeFirst();
}

/** Forgets every provider token of a user (the account was disabled: all its sessions ended). */
export function deleteUserSessions(db: Db, userId: string) {
  return db.deleteFrom("oidc_sessions").where("user_id", "=", userId).execute();
}

/**
 * Forgets the provider tokens of a user's sessions that ended without a logout (expired, revoked
 * by an admin or a role change), so refresh tokens do not lie about after their session.
 */
export function deleteEndedSessions(db: Db, userId: string) {
  return sql`delete from oidc_sessions o using api_tokens t
              where o.token_id = t.id and o.user_id = ${userId} and (t.revoked_at is not null or t.expires_at <= now())`.execute(db);
}

/**
 * Revokes the user's API tokens (not their sessions): the role they were made under is gone. A
 * session is re-checked against the provider itself; an API token never is (it has no refresh
 * token of its own), so it ends here rather than carry on under a role the provider lowered.
 */
export function revokeApiTokens(db: Db, userId: string) {
  return db
    .updateTable("api_tokens")
    .set({ revoked_at: sql`now()` })
    .where("user_id", "=", userId)
    .where("kind", "=", "api")
    .where("revoked_at", "is", null)
    .returning("id")
    .execute();
}
