import type { Kysely } from "kysely";
import { AppError } from "../errors.ts";
import type { DB } from "../db/schema.ts";
import { countUsers, findUserByEmail, findUserByTokenHash, insertToken, insertUser, type Role, type UserRow } from "./auth.repository.ts";
import { hashToken, looksLikeToken, newToken } from "./token.ts";

export const ROLES: readonly Role[] = ["admin", "operator", "reporter", "viewer"];
export const SESSION_TTL_MS = 12 * 3_600_000;
export const MAX_PASSWORD = 1024;

export interface AuthUser {
  id: string;
  email: string;
  role: Role;
}

export function publicUser(u: UserRow | AuthUser): AuthUser {
  return { id: u.id, email: u.email, role: u.role };
}

export function normalizeEmail(email: string): string {
  const e = email.trim();
  if (e.length > 254 || !/^[^\s@\u0000-\u001f]+@[^\s@\u0000-\u001f]+$/.test(e)) throw new AppError("bad_request", "email is not a valid address");
  return e;
}

/** Random password that is easy to read out loud: no 0/O, 1/l. */
export function generatePassword(): string {
  const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(20));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

export async function addUser(db: Kysely<DB>, input: { email: string; role: string; password?: string }): Promise<{ user: AuthUser; password: string }> {
  const email = normalizeEmail(input.email);
  if (!ROLES.includes(input.role as Role)) throw new AppError("bad_request", `role must be one of ${ROLES.join(", ")}`);
  const password = input.password ?? generatePassword();
  if (password.length < 8 || password.length > MAX_PASSWORD) throw new AppError("bad_request", `password must be 8 to ${MAX_PASSWORD} characters`);
  const row = await insertUser(db, { email, role: input.role as Role, password_hash: await Bun.password.hash(password, "argon2id") });
  if (!row) throw new AppError("conflict", `a user with email ${email} already exists`);
  return { user: publicUser(row), password };
}

export async function createToken(db: Kysely<DB>, input: { email: string; name: string; ttlMs: number | null; kind?: "api" | "session" }): Promise<{ token: string; expiresAt: Date | null }> {
  const user = await findUserByEmail(db, normalizeEmail(input.email));
  if (!user || user.disabled_at) throw new AppError("not_found", `no active user with email ${input.email}`);
  const token = newToken();
  const row = await insertToken(db, {
    user_id: user.id,
    kind: input.kind ?? "api",
    name: input.name,
    token_hash: hashToken(token),
    expires_at: input.ttlMs === null ? null : new Date(Date.now() + input.ttlMs),
  });
  return { token, expiresAt: row.expires_at as Date | null };
}

// Compared against when the email is unknown, so a wrong email costs the same time as a wrong password.
let dummyHash: Promise<string> | null = null;

export async function login(db: Kysely<DB>, email: string, password: string): Promise<{ token: string; user: AuthUser; expiresAt: Date }> {
  const denied = new AppError("unauthorized", "email or password is wrong");
  if (password.length > MAX_PASSWORD) throw denied;
  let addr: string;
  try {
    addr = normalizeEmail(email);
  } catch {
    throw denied;
  }
  const user = await findUserByEmail(db, addr);
  dummyHash ??= Bun.password.hash("not-a-real-password", "argon2id");
  const ok = await Bun.password.verify(password, user?.password_hash ?? (await dummyHash));
  if (!user || !user.password_hash || user.disabled_at || !ok) throw denied;
  const { token, expiresAt } = await createToken(db, { email: addr, name: "login", ttlMs: SESSION_TTL_MS, kind: "session" });
  return { token, user: publicUser(user), expiresAt: expiresAt! };
}

export async function authenticate(db: Kysely<DB>, token: string | null): Promise<AuthUser> {
  if (!token) throw new AppError("unauthorized", "missing bearer token");
  if (!looksLikeToken(token)) throw new AppError("unauthorized", "invalid token");
  const row = await findUserByTokenHash(db, hashToken(token));
  if (!row) throw new AppError("unauthorized", "invalid, expired or revoked token");
  return publicUser(row);
}

/**
 * On the very first start there is no one to log in as: create the admin and hand back the
 * password once, to be printed. Races between nodes are settled by the unique email.
 */
export async function ensureFirstAdmin(db: Kysely<DB>, email: string): Promise<{ email: string; password: string } | null> {
  const { n } = await countUsers(db);
  if (Number(n) > 0) return null;
  try {
    const { password } = await addUser(db, { email, role: "admin" });
    return { email, password };
  } catch (e) {
    if (e instanceof AppError && e.code === "conflict") return null;
    throw e;
  }
}
