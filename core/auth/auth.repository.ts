import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";
import type { Role } from "./role.ts";

/** Thin queries, `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

export interface UserRow {
  id: string;
  email: string;
  role: Role;
  created_at: Date;
}

const USER_COLUMNS = ["users.id", "users.email", "users.role", "users.created_at"] as const;

export function findUserByEmail(db: Db, email: string) {
  return db
    .selectFrom("users")
    .select([...USER_COLUMNS, "users.password_hash", "users.disabled_at", "users.directory_dn"])
    .where("email", "=", email)
    .executeTakeFirst();
}

export function findUserById(db: Db, id: string) {
  return db
    .selectFrom("users")
    .select([...USER_COLUMNS, "users.disabled_at", "users.directory_dn"])
    .where("id", "=", id)
    .executeTakeFirst();
}

export function insertUser(db: Db, u: { email: string; role: Role; password_hash: string | null }) {
  return db
    .insertInto("users")
    .values(u)
    .onConflict((oc) => oc.column("email").doNothing())
    .returning(USER_COLUMNS)
    .executeTakeFirst();
}

export function countUsers(db: Db) {
  return db
    .selectFrom("users")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .executeTakeFirstOrThrow();
}

export function countActiveAdmins(db: Db) {
  return db
    .selectFrom("users")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("role", "=", "admin")
    .where("disabled_at", "is", null)
    .executeTakeFirstOrThrow();
}

export function listUsers(db: Db, limit: number) {
  return db
    .selectFrom("users")
    .leftJoin("login_failures", "login_failures.email", "users.email")
    .select([...USER_COLUMNS, "users.disabled_at", "login_failures.locked_until", "users.totp_enabled_at"])
    .select((eb) =>
      eb
        .selectFrom("webauthn_credentials")
        .whereRef("webauthn_credentials.user_id", "=", "users.id")
        .select((e) => e.fn.countAll<string>().as("n"))
        .as("passkeys"),
    )
    .orderBy("users.created_at")
    .limit(limit)
    .execute();
}

/**
 * Locks the user's row and every admin's in one statement, in id order, until the transaction
 * ends: concurrent demotions run one at a time and count what the other left, and two of them
 * never deadlock (each taking its own row first, then waiting for the other's). The user's row,
 * if it exists.
 */
export async function lockUserAndAdmins(trx: Transaction<DB>, id: string) {
  const rows = await trx
    .selectFrom("users")
    .select(["id", "email", "role", "disabled_at"])
    .where((eb) => eb.or([eb("id", "=", id), eb("role", "=", "admin")]))
    .orderBy("id")
    .forUpdate()
    .execute();
  return rows.find((r) => r.id === id);
}

export function updateUser(db: Db, id: string, set: { role?: Role; disabled_at?: Date | null }) {
  return db
    .updateTable("users")
    .set(set)
    .where("id", "=", id)
    .returning([...USER_COLUMNS, "users.disabled_at"])
    .executeTakeFirst();
}

export interface NewToken {
  id?: string;
  user_id: string;
  kind: "api" | "session";
  name: string;
  token_hash: Buffer;
  expires_at: Date | null;
  role?: Role | null;
  rate_limit_per_minute?: number | null;
  created_by?: string | null;
  last_used_at?: Date | null;
}

export function insertToken(db: Db, t: NewToken) {
  return db.insertInto("api_tokens").values(t).returning(["id", "expires_at"]).executeTakeFirstOrThrow();
}

/** A token row with its user, by id (signed sessions) or by hash (API tokens). No rules here. */
export function findCredential(db: Db, by: { id: string } | { hash: Buffer }) {
  let q = db
    .selectFrom("api_tokens")
    .innerJoin("users", "users.id", "api_tokens.user_id")
    .select([
      ...USER_COLUMNS,
      "users.disabled_at",
      "users.directory_dn",
      "users.directory_checked_at",
      "users.oidc_subject",
      "api_tokens.id as token_id",
      "api_tokens.kind",
      "api_tokens.role as token_role",
      "api_tokens.rate_limit_per_minute",
      "api_tokens.expires_at",
      "api_tokens.revoked_at",
      "api_tokens.last_used_at",
    ]);
  q = "id" in by ? q.where("api_tokens.id", "=", by.id) : q.where("api_tokens.token_hash", "=", by.hash);
  return q.executeTakeFirst();
}

/** The state of many tokens at once (open event streams recheck theirs in one query per node). */
export function findCredentialsByIds(db: Db, ids: readonly string[]) {
  return db
    .selectFrom("api_tokens")
    .innerJoin("users", "users.id", "api_tokens.user_id")
    .leftJoin("oidc_sessions", "oidc_sessions.token_id", "api_tokens.id")
    .select([
      "users.id as user_id",
      "users.email",
      "users.role",
      "users.disabled_at",
      "users.directory_dn",
      "users.directory_checked_at",
      "users.oidc_subject",
      "oidc_sessions.checked_at as oidc_checked_at",
      "api_tokens.id as token_id",
      "api_tokens.kind",
      "api_tokens.role as token_role",
      "api_tokens.expires_at",
      "api_tokens.revoked_at",
      "api_tokens.last_used_at",
    ])
    .where("api_tokens.id", "=", sql<string>`any(${[...ids]}::uuid[])`)
    .execute();
}

export function touchToken(db: Db, id: string) {
  return db.updateTable("api_tokens").set({ last_used_at: sql`now()` }).where("id", "=", id).execute();
}

export function revokeToken(db: Db, id: string) {
  return db
    .updateTable("api_tokens")
    .set({ revoked_at: sql`now()` })
    .where("id", "=", id)
    .where("revoked_at", "is", null)
    .returning(["id", "user_id", "kind", "name"])
    .executeTakeFirst();
}

/** Every live token of a user (role change, disabled account, revoked invite). */
export function revokeUserTokens(db: Db, userId: string) {
  return db.updateTable("api_tokens").set({ revoked_at: sql`now()` }).where("user_id", "=", userId).where("revoked_at", "is", null).returning("id").execute();
}

export function setPasswordHash(db: Db, userId: string, hash: string) {
  return db.updateTable("users").set({ password_hash: hash }).where("id", "=", userId).execute();
}

/** Every live session of a user but `keep` (the one changing its own password). API tokens stay. */
export function revokeUserSessions(db: Db, userId: string, keep: string | null) {
  let q = db
    .updateTable("api_tokens")
    .set({ revoked_at: sql`now()` })
    .where("user_id", "=", userId)
    .where("kind", "=", "session")
    .where("revoked_at", "is", null);
  if (keep) q = q.where("id", "<>", keep);
  return q.returning("id").execute();
}

export function findToken(db: Db, id: string) {
  return db.selectFrom("api_tokens").select(["id", "user_id", "kind", "name", "role", "revoked_at"]).where("id", "=", id).executeTakeFirst();
}

export function listTokens(db: Db, opts: { userId?: string; includeRevoked: boolean; limit: number }) {
  let q = db
    .selectFrom("api_tokens")
    .innerJoin("users", "users.id", "api_tokens.user_id")
    .select([
      "api_tokens.id",
      "api_tokens.name",
      "api_tokens.role",
      "api_tokens.rate_limit_per_minute",
      "api_tokens.created_at",
      "api_tokens.expires_at",
      "api_tokens.revoked_at",
      "api_tokens.last_used_at",
      "users.id as user_id",
      "users.email as user_email",
      "users.role as user_role",
    ])
    .where("api_tokens.kind", "=", "api");
  if (opts.userId) q = q.where("api_tokens.user_id", "=", opts.userId);
  if (!opts.includeRevoked) q = q.where("api_tokens.revoked_at", "is", null);
  return q.orderBy("api_tokens.created_at", "desc").limit(opts.limit).execute();
}

/**
 * Counts a sign-in attempt before its password is checked, so concurrent guesses cannot all slip
 * in before the counter moves. An expired lock starts a fresh count.
 */
export async function reserveLoginAttempt(db: Db, email: string) {
  const { rows } = await sql<{ failures: number; locked_for: number | null }>`
    insert into login_failures as f (email, failures, last_attempt_at) values (${email}, 1, now())
    on conflict (email) do update set
      failures = case when f.locked_until is not null and f.locked_until <= now() then 1 else f.failures + 1 end,
      locked_until = case when f.locked_until is not null and f.locked_until <= now() then null else f.locked_until end,
      last_attempt_at = now()
    returning failures, extract(epoch from f.locked_until - now())::float8 as locked_for`.execute(db);
  return rows[0]!;
}

/** Locks the account once `failures` reached `max`; returns seconds left on the lock, if locked. */
export async function lockIfOver(db: Db, email: string, max: number, lockoutMs: number): Promise<number | null> {
  const { rows } = await sql<{ locked_for: number | null }>`
    update login_failures set locked_until = case when failures >= ${max}::int then coalesce(locked_until, now() + make_interval(secs => ${lockoutMs / 1000}::float8)) else locked_until end
    where email = ${email}
    returning extract(epoch from locked_until - now())::float8 as locked_for`.execute(db);
  const s = rows[0]?.locked_for;
  return s === null || s === undefined || s <= 0 ? null : s;
}

/** Takes back an attempt that could not be judged (the directory did not answer): an outage locks no one. */
export function releaseLoginAttempt(db: Db, email: string) {
  return db.updateTable("login_failures").set({ failures: sql`greatest(failures - 1, 0)` }).where("email", "=", email).execute();
}

export function clearLoginFailures(db: Db, email: string) {
  return db.deleteFrom("login_failures").where("email", "=", email).returning("locked_until").executeTakeFirst();
}

export async function pruneLoginFailures(db: Db): Promise<number> {
  const r = await sql`delete from login_failures where last_attempt_at < now() - interval '1 day' and (locked_until is null or locked_until < now())`.execute(
    db,
  );
  return Number(r.numAffectedRows ?? 0);
}

export async function loadOrCreateSecret(db: Db, fresh: Buffer): Promise<Buffer> {
  await db
    .insertInto("auth_secrets")
    .values({ id: 1, secret: fresh })
    .onConflict((oc) => oc.column("id").doNothing())
    .execute();
  const row = await db.selectFrom("auth_secrets").select("secret").where("id", "=", 1).executeTakeFirstOrThrow();
  return row.secret;
}
