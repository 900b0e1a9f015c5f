import type { Kysely, Transaction } from "kysely";
import { audit } from "../audit/audit.service.ts";
import type { Config } from "../config/config.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import * as repo from "./auth.repository.ts";
import type { CredentialCache } from "./credential-cache.ts";
import type { UserRow } from "./auth.repository.ts";
import { isRole, ROLES, type Role } from "./role.ts";
import { roleCovers } from "./guards.ts";
import { directorySignIn, recheckIfStale } from "./directory/directory.service.ts";
import { recheckOidcSession } from "./oidc/recheck.ts";
import { answerChallenge, needsSecondFactor, startChallenge, type MfaAnswer, type MfaChallenge } from "./mfa/mfa.service.ts";
import { checkPassword, MAX_PASSWORD } from "./password-policy.ts";
import { hashToken, isSessionToken, looksLikeToken, newToken, signSession, verifySession } from "./token.ts";

export { MAX_PASSWORD } from "./password-policy.ts";

/** The security settings auth needs (a slice of Config, so services never see the rest). */
export type AuthSettings = Config["security"];

export interface AuthUser {
  id: string;
  email: string;
  role: Role;
}

/** A verified credential: who, acting with which role, through which token. */
export interface Credential {
  user: AuthUser;
  tokenId: string;
  kind: "api" | "session";
  /** The token's own quota; null = the --rate-limit default. */
  rateLimitPerMinute: number | null;
}

type Db = Kysely<DB> | Transaction<DB>;

export function publicUser(u: UserRow | AuthUser): AuthUser {
  return { id: u.id, email: u.email, role: u.role };
}

export function normalizeEmail(email: string): string {
  const e = email.trim();
  if (e.length > 254 || !/^[^\s@\u0000-\u001f]+@[^\s@\u0000-\u001f]+$/.test(e)) throw new AppError("bad_request", "email is not a valid address");
  return e;
}

export function parseRole(role: string): Role {
  if (!isRole(role)) throw new AppError("bad_request", `role must be one of ${ROLES.join(", ")}`);
  return role;
}

/** Random password that is easy to read out loud: no 0/O, 1/l. */
export function generatePassword(): string {
  const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(20));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

export async function addUser(db: Db, input: { email: string; role: string; password?: string }): Promise<{ user: AuthUser; password: string }> {
  const email = normalizeEmail(input.email);
  const role = parseRole(input.role);
  const password = input.password ?? generatePassword();
  checkPassword(password, { email });
  const row = await repo.insertUser(db, { email, role, password_hash: await Bun.password.hash(password, "argon2id") });
  if (!row) throw new AppError("conflict", `a user with email ${email} already exists`);
  return { user: publicUser(row), password };
}

export interface TokenInput {
  email: string;
  name: string;
  ttlMs: number | null;
  kind?: "api" | "session";
  /** Act with this role instead of the user's; must be one the user's role covers. */
  role?: Role | null;
  rateLimitPerMinute?: number | null;
  createdBy?: string | null;
}

export async function createToken(db: Db, input: TokenInput): Promise<{ id: string; token: string; expiresAt: Date | null; user: AuthUser }> {
  const user = await repo.findUserByEmail(db, normalizeEmail(input.email));
  if (!user || user.disabled_at) throw new AppError("not_found", `no active user with email ${input.email}`);
  if (input.role && !roleCovers(user.role, input.role)) throw new AppError("forbidden", `a ${user.role} cannot hold a ${input.role} token`);
  const token = newToken();
  const row = await repo.insertToken(db, {
    user_id: user.id,
    kind: input.kind ?? "api",
    name: input.name,
    token_hash: hashToken(token),
    expires_at: input.ttlMs === null ? null : new Date(Date.now() + input.ttlMs),
    role: input.role ?? null,
    rate_limit_per_minute: input.rateLimitPerMinute ?? null,
    created_by: input.createdBy ?? null,
  });
  return { id: row.id, token, expiresAt: row.expires_at as Date | null, user: publicUser(user) };
}

// The HMAC key of session tokens, per database (a cluster shares one). Loaded once per process.
const keys = new WeakMap<object, Promise<Uint8Array>>();

export function sessionKey(db: Kysely<DB>, secret: string | null): Promise<Uint8Array> {
  let k = keys.get(db);
  if (!k) {
    k =
      secret !== null
        ? Promise.resolve(new Uint8Array(new Bun.CryptoHasher("sha256").update(secret).digest()))
        : repo.loadOrCreateSecret(db, Buffer.from(crypto.getRandomValues(new Uint8Array(32)))).then((b) => new Uint8Array(b));
    // A failed load (database down) is retried by the next request, not remembered.
    k.catch(() => keys.delete(db));
    keys.set(db, k);
  }
  return k;
}

/** A signed session token for the web UI and API clients that sign in (login, invite links). */
export async function createSession(db: Kysely<DB>, user: AuthUser, settings: AuthSettings, name: string): Promise<{ token: string; expiresAt: Date }> {
  return insertSession(db, await sessionKey(db, settings.sessionSecret), user, settings, name);
}

/** createSession with the key already loaded: inside a transaction, nothing may query through the pool. */
export async function insertSession(
  writer: Db,
  key: Uint8Array,
  user: AuthUser,
  settings: AuthSettings,
  name: string,
): Promise<{ token: string; expiresAt: Date }> {
  const sessionId = crypto.randomUUID();
  const issuedAt = new Date();
  const expiresAt = new Date(Math.floor((issuedAt.getTime() + settings.sessionMaxMs) / 1000) * 1000);
  const token = signSession(key, { sessionId, issuedAt, expiresAt });
  await repo.insertToken(writer, {
    id: sessionId,
    user_id: user.id,
    kind: "session",
    name,
    token_hash: hashToken(token),
    expires_at: expiresAt,
    last_used_at: issuedAt,
  });
  return { token, expiresAt };
}

// Compared against when the email is unknown, so a wrong email costs the same time as a wrong password.
let dummyHash: Promise<string> | null = null;

/**
 * Email and password to a session, with CJIS-style lockout: after --login-max-failures failed
 * attempts in a row the address is locked for --login-lockout, whether or not an account has it,
 * so the answer never tells which accounts exist. A locked account refuses even the right
 * password (429 with Retry-After) without checking it.
 */
export async function login(db: Kysely<DB>, email: string, password: string, settings: AuthSettings): Promise<LoginResult> {
  const denied = new AppError("unauthorized", "email or password is wrong");
  if (password.length > MAX_PASSWORD) throw denied;
  let addr: string | null = null;
  try {
    addr = normalizeEmail(email);
  } catch {
    // Not an address: with a directory it is a directory username, else it cannot match anyone.
    if (!settings.ldap) throw denied;
  }
  const name = email.trim();
  if (!addr && (name.length === 0 || name.length > 254 || /[\u0000-\u001f]/.test(name))) throw denied;
  const key = addr ?? name;
  const attempt = await repo.reserveLoginAttempt(db, key);
  const lockedFor =
    attempt.locked_for !== null && attempt.locked_for > 0
      ? attempt.locked_for
      : attempt.failures > settings.loginMaxFailures
        ? await repo.lockIfOver(db, key, settings.loginMaxFailures, settings.loginLockoutMs)
        : null;
  if (lockedFor !== null) {
    await audit(db, { action: "login.locked", targetType: "user", targetId: key, actor: null, detail: { email: key } });
    throw locked(lockedFor);
  }
  const user = addr ? await repo.findUserByEmail(db, addr) : undefined;
  // Local accounts (break-glass admins) never depend on the directory; everyone else may come from it.
  if (settings.ldap && (!user || user.directory_dn)) {
    const pub = await directoryLogin(db, settings, key, user?.directory_dn ? { dn: user.directory_dn } : { username: name }, password, denied);
    return startSession(db, pub, settings, "ldap");
  }
  dummyHash ??= Bun.password.hash("not-a-real-password", "argon2id");
  const ok = await Bun.password.verify(password, user?.password_hash ?? (await dummyHash));
  if (!user || !user.password_hash || user.disabled_at || !ok) {
    const nowLocked = await repo.lockIfOver(db, key, settings.loginMaxFailures, settings.loginLockoutMs);
    await audit(db, { action: "login.failed", targetType: "user", targetId: user?.id ?? key, actor: null, detail: { email: key, locked: nowLocked !== null } });
    throw denied;
  }
  return startSession(db, publicUser(user), settings, "local");
}

/** A signed-in result, or the second step it needs first (no session exists until it is answered). */
export type SignedIn = { token: string; user: AuthUser; expiresAt: Date; recoveryCodes?: string[] };
export type LoginResult = SignedIn | { mfa: MfaChallenge; user: AuthUser };

async function startSession(db: Kysely<DB>, user: AuthUser, settings: AuthSettings, via: "local" | "ldap"): Promise<LoginResult> {
  // The password was right; the lockout count stays until the second factor is right too.
  if (await needsSecondFactor(db, user, settings.mfaRequired)) return { mfa: await startChallenge(db, user), user };
  return session(db, user, settings, { via });
}

async function session(db: Kysely<DB>, user: AuthUser, settings: AuthSettings, detail: Record<string, unknown>) {
  await repo.clearLoginFailures(db, user.email);
  const { token, expiresAt } = await createSession(db, user, settings, "login");
  await audit(db, { action: "login", targetType: "user", targetId: user.id, actor: { id: user.id, email: user.email, role: user.role }, detail });
  return { token, user, expiresAt };
}

/**
 * The second step of a sign-in: a TOTP or recovery code against the challenge. Wrong codes count
 * toward the account's lockout like wrong passwords (so fresh challenges do not buy fresh guesses).
 */
export async function completeSecondFactor(db: Kysely<DB>, challenge: string, answer: MfaAnswer, settings: AuthSettings): Promise<SignedIn> {
  return sessionAfterSecondFactor(db, await answerChallenge(db, challenge, answer, wrongAnswerCounter(db, settings)), settings);
}

/** A wrong second-factor answer counts toward the account's lockout; throws 429 once it is locked. */
export function wrongAnswerCounter(db: Kysely<DB>, settings: AuthSettings): (email: string) => Promise<void> {
  return async (email) => {
    await repo.reserveLoginAttempt(db, email);
    const lockedFor = await repo.lockIfOver(db, email, settings.loginMaxFailures, settings.loginLockoutMs);
    if (lockedFor !== null) throw locked(lockedFor);
  };
}

/** The session of a sign-in whose second factor (code, recovery code or passkey) was accepted. */
export async function sessionAfterSecondFactor(
  db: Kysely<DB>,
  r: { user: AuthUser; method: string; recoveryCodes?: string[] },
  settings: AuthSettings,
): Promise<SignedIn> {
  const s = await session(db, r.user, settings, { via: "mfa", method: r.method });
  return r.recoveryCodes ? { ...s, recoveryCodes: r.recoveryCodes } : s;
}

/** The directory branch of login: a refusal counts toward the lockout like a wrong password; an outage does not. */
async function directoryLogin(
  db: Kysely<DB>,
  settings: AuthSettings,
  key: string,
  who: { username: string } | { dn: string },
  password: string,
  denied: AppError,
): Promise<AuthUser> {
  let r;
  try {
    r = await directorySignIn(db, settings.ldap!, who, password);
  } catch (e) {
    if (e instanceof AppError && e.code === "unavailable") await repo.releaseLoginAttempt(db, key);
    throw e;
  }
  if (!r.ok) {
    const nowLocked = await repo.lockIfOver(db, key, settings.loginMaxFailures, settings.loginLockoutMs);
    await audit(db, {
      action: "login.failed",
      targetType: "user",
      targetId: r.userId ?? key,
      actor: null,
      detail: { email: key, via: "ldap", reason: r.reason, locked: nowLocked !== null, ...r.detail },
    });
    throw denied;
  }
  await repo.clearLoginFailures(db, key);
  return r.user;
}

function locked(seconds: number): AppError {
  const s = Math.max(1, Math.ceil(seconds));
  return new AppError("rate_limited", `too many failed sign-ins for this account: it is locked for ${s} s (an admin can unlock it)`, { retryAfterSeconds: s });
}

/** Sliding expiry is recorded at most this often per token, so a busy client writes once a minute, not per request. */
const TOUCH_EVERY_MS = 60_000;

/**
 * Checks a bearer or cookie token. Session tokens: signature and expiry first (no database),
 * then one primary-key lookup for revocation, idle expiry and a disabled account. API tokens:
 * one lookup by hash. Either way a single indexed row read.
 */
export async function authenticate(db: Kysely<DB>, token: string | null, settings: AuthSettings, cache?: CredentialCache): Promise<Credential> {
  if (!token) throw new AppError("unauthorized", "missing bearer token");
  if (!looksLikeToken(token)) throw new AppError("unauthorized", "invalid token");
  const invalid = new AppError("unauthorized", "invalid, expired or revoked token");
  let row: Awaited<ReturnType<typeof repo.findCredential>>;
  let key: string;
  let by: { id: string } | { hash: Buffer };
  if (isSessionToken(token)) {
    // The signature first: a forged session token never reaches the cache or the database.
    const claims = verifySession(await sessionKey(db, settings.sessionSecret), token);
    if (claims === "expired") throw new AppError("unauthorized", "session expired; sign in again");
    if (!claims) throw invalid;
    key = `s:${claims.sessionId}`;
    by = { id: claims.sessionId };
  } else {
    const hash = hashToken(token);
    key = `h:${hash.toString("hex")}`;
    by = { hash };
  }
  row = cache?.get(key);
  if (!row) {
    const stamp = cache?.stamp() ?? null;
    row = await repo.findCredential(db, by);
    if (row) cache?.set(key, row, stamp);
  }
  if (row && row.kind !== ("id" in by ? "session" : "api")) throw invalid;
  const now = Date.now();
  if (!row) throw invalid;
  const problem = credentialProblem(row, now, settings);
  if (problem === "idle") throw new AppError("unauthorized", "session ended after inactivity; sign in again");
  if (problem) throw invalid;
  // A directory account's groups and state, re-read when the cache window has passed.
  const fresh = await recheckIfStale(db, settings.ldap, row);
  if (fresh && "disabled" in fresh) throw invalid;
  if (fresh) row = { ...row, role: fresh.role };
  if (fresh && row.token_role && !roleCovers(row.role, row.token_role)) throw invalid;
  // A session started through the OpenID Connect provider: its groups, re-read by a refresh grant.
  const viaOidc = await recheckOidcSession(db, settings.oidc, row);
  if (viaOidc && "ended" in viaOidc) throw new AppError("unauthorized", "your sign-in through the identity provider no longer holds; sign in again");
  if (viaOidc) row = { ...row, role: viaOidc.role };
  const lastUsed = row.last_used_at ? new Date(row.last_used_at).getTime() : 0;
  if (now - lastUsed > Math.min(TOUCH_EVERY_MS, settings.sessionIdleMs / 4)) {
    const stamp = cache?.stamp() ?? null;
    await repo.touchToken(db, row.token_id);
    cache?.set(key, { ...row, last_used_at: new Date(now) }, stamp);
  }
  return {
    user: { id: row.id, email: row.email, role: effectiveRole(row) },
    tokenId: row.token_id,
    kind: row.kind,
    rateLimitPerMinute: row.rate_limit_per_minute,
  };
}

/** What makes a stored credential unusable now, or null while it holds. Shared by authenticate and the event-stream recheck. */
export type CredentialProblem = "revoked" | "disabled" | "expired" | "idle" | "outranked";

export function credentialProblem(
  row: {
    kind: "api" | "session";
    revoked_at: Date | string | null;
    disabled_at: Date | string | null;
    expires_at: Date | string | null;
    last_used_at: Date | string | null;
    role: Role;
    token_role: Role | null;
  },
  now: number,
  settings: Pick<AuthSettings, "sessionIdleMs">,
): CredentialProblem | null {
  if (row.revoked_at) return "revoked";
  if (row.disabled_at) return "disabled";
  if (row.expires_at && new Date(row.expires_at).getTime() <= now) return "expired";
  const lastUsed = row.last_used_at ? new Date(row.last_used_at).getTime() : 0;
  if (row.kind === "session" && now - lastUsed > settings.sessionIdleMs) return "idle";
  // A scoped token never outranks its user: demoting the user demotes (or voids) the token.
  if (row.token_role && !roleCovers(row.role, row.token_role)) return "outranked";
  return null;
}

/** The role a credential acts with: its own scope, else its user's. */
export function effectiveRole(row: { role: Role; token_role: Role | null }): Role {
  return row.token_role ?? row.role;
}

/**
 * On the very first start there is no one to log in as: create the admin and hand back the
 * password once, to be printed. Races between nodes are settled by the unique email.
 */
export async function ensureFirstAdmin(db: Kysely<DB>, email: string): Promise<{ email: string; password: string } | null> {
  const { n } = await repo.countUsers(db);
  if (Number(n) > 0) return null;
  try {
    const { password } = await addUser(db, { email, role: "admin" });
    return { email, password };
  } catch (e) {
    if (e instanceof AppError && e.code === "conflict") return null;
    throw e;
  }
}
