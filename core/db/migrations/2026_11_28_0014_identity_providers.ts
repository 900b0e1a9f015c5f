import { sql, type Kysely } from "kysely";

// Frozen in time: Kysely<any>, no application imports.
// Issue 12: accounts that come from a directory (LDAP/AD) and second factors.
// - users.directory_dn: the entry a directory account signs in as (null = a local account, e.g. a
//   break-glass admin); directory_checked_at: when its groups and state were last read, so each
//   request can re-read them once the cache window (--ldap-cache, at most 5 min) has passed.
// - users.totp_secret / totp_enabled_at: the TOTP shared secret (enabled once confirmed with a code);
//   mfa_recovery_codes: one-time codes, only their SHA-256 kept.
// - mfa_challenges: the half-finished sign-in between password and second factor.
export const expandOnly = true;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("users")
    .addColumn("directory_dn", "text", (c) => c.unique())
    .addColumn("directory_checked_at", "timestamptz")
    .addColumn("totp_secret", "text")
    .addColumn("totp_enabled_at", "timestamptz")
    // The last time step a code was accepted for: RFC 6238 forbids accepting one code twice.
    .addColumn("totp_last_step", "bigint")
    .execute();
  await db.schema
    .createTable("mfa_recovery_codes")
    .addColumn("id", "uuid", (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("user_id", "uuid", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("code_hash", "bytea", (c) => c.notNull().unique())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("used_at", "timestamptz")
    .execute();
  await db.schema.createIndex("mfa_recovery_codes_user_idx").on("mfa_recovery_codes").column("user_id").execute();
  await db.schema
    .createTable("mfa_challenges")
    .addColumn("id", "uuid", (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("user_id", "uuid", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("token_hash", "bytea", (c) => c.notNull().unique())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("used_at", "timestamptz")
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("mfa_challenges").execute();
  await db.schema.dropTable("mfa_recovery_codes").execute();
  await db.schema
    .alterTable("users")
    .dropColumn("directory_dn")
    .dropColumn("directory_checked_at")
    .dropColumn("totp_secret")
    .dropColumn("totp_enabled_at")
    .dropColumn("totp_last_step")
    .execute();
}
