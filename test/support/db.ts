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
