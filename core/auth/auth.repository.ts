import type { Kysely } from "kysely";
import type { DB, UserRole } from "../db/schema.ts";

/** Thin queries, `db` first, no rules. */
export type Role = UserRole;
export interface UserRow {
  id: string;
  email: string;
  role: Role;
  created_at: Date;
}

const USER_COLUMNS = ["users.id", "users.email", "users.role", "users.created_at"] as const;

export function findUserByEmail(db: Kysely<DB>, email: string) {
  return db.selectFrom("users").select([...USER_COLUMNS, "users.password_hash", "users.disabled_at"]).where("email", "=", email).executeTakeFirst();
}

export function insertUser(db: Kysely<DB>, u: { email: string; role: Role; password_hash: string }) {
  return db.insertInto("users").values(u).onConflict((oc) => oc.column("email").doNothing()).returning(USER_COLUMNS).executeTakeFirst();
}

export function countUsers(db: Kysely<DB>) {
  return db.selectFrom("users").select((eb) => eb.fn.countAll<string>().as("n")).executeTakeFirstOrThrow();
}

export function insertToken(db: Kysely<DB>, t: { user_id: string; kind: "api" | "session"; name: string; token_hash: Buffer; expires_at: Date | null }) {
  return db.insertInto("api_tokens").values(t).returning(["id", "expires_at"]).executeTakeFirstOrThrow();
}

/** The user behind a live token, or nothing (unknown, expired, revoked, or user disabled). */
export function findUserByTokenHash(db: Kysely<DB>, hash: Buffer) {
  return db
    .selectFrom("api_tokens")
    .innerJoin("users", "users.id", "api_tokens.user_id")
    .select([...USER_COLUMNS, "api_tokens.id as token_id", "api_tokens.kind as token_kind"])
    .where("api_tokens.token_hash", "=", hash)
    .where("api_tokens.revoked_at", "is", null)
    .where("users.disabled_at", "is", null)
    .where((eb) => eb.or([eb("api_tokens.expires_at", "is", null), eb("api_tokens.expires_at", ">", new Date())]))
    .executeTakeFirst();
}
