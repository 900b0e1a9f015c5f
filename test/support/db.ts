import { openDatabase, type Database } from "../../core/db/kysely.ts";
import { migrateToLatest } from "../../core/db/migrate.ts";
import { createLogger } from "../../core/log.ts";
import type { AuthUser } from "../../core/auth/auth.service.ts";
import { insertUser } from "../../core/auth/auth.repository.ts";
import { testDatabaseUrl } from "./postgres.ts";

/**
 * A fresh database of its own, migrated like an appliance's (ours and graphile-worker's), for
 * service tests that call core/ functions directly: no app, no HTTP. Close it in afterAll.
 */
export async function migratedDatabase(name: string): Promise<Database> {
  const url = await testDatabaseUrl();
  const log = createLogger("error");
  const database = openDatabase({ url, poolMax: 4, statementTimeoutMs: 30_000, connectTimeoutMs: 10_000, applicationName: name }, log);
  await migrateToLatest(database, url, log);
  return database;
}

/** A user row (no password) to act as. */
export async function makeUser(database: Database, email: string, role: AuthUser["role"]): Promise<AuthUser> {
  const row = await insertUser(database.db, { email, role, password_hash: null });
  if (!row) throw new Error(`user ${email} exists already`);
  return { id: row.id, email: row.email, role: row.role };
}

/** The cast most service tests act as: an admin, an operator and a reporter (for makeUsers). */
export const STAFF = [
  ["admin@city.example", "admin"],
  ["op@city.example", "operator"],
  ["r@city.example", "reporter"],
] as const;

/** Users to act as, made in this order (makeUser): `[admin, op] = await makeUsers(database, [["a@x", "admin"], ["o@x", "operator"]])`. */
export async function makeUsers<const U extends readonly (readonly [email: string, role: AuthUser["role"]])[]>(
  database: Database,
  users: U,
): Promise<{ -readonly [K in keyof U]: AuthUser }> {
  const made: AuthUser[] = [];
  for (const [email, role] of users) made.push(await makeUser(database, email, role));
  return made as { -readonly [K in keyof U]: AuthUser };
}

/** How a service call ended: "ok", or the code of the error it threw (the error's text when it has none). */
export const codeOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => "ok",
    (e: { code?: string }) => e.code ?? String(e),
  );
