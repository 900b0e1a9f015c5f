import { sql, type Kysely } from "kysely";

// Frozen in time: Kysely<any>, no application imports.
// Issue 12: WebAuthn passkeys as a second factor.
// - webauthn_credentials: a user's registered passkeys (public key, signature counter, transports);
//   the credential id is the authenticator's, base64url, unique across users.
// - webauthn_challenges: the random challenge of one registration or authentication ceremony,
//   kept server side with an expiry and spent once (used_at). A sign-in ceremony names the pending
//   sign-in (mfa_challenges) it belongs to, so an assertion cannot finish someone else's sign-in.
export const expandOnly = true;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("webauthn_credentials")
    .addColumn("id", "uuid", (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("user_id", "uuid", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("credential_id", "text", (c) => c.notNull().unique())
    .addColumn("public_key", "bytea", (c) => c.notNull())
    // The authenticator's signature counter; an assertion must raise it (unless both stay 0).
    .addColumn("counter", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("transports", sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("aaguid", "text")
    .addColumn("device_type", "text")
    .addColumn("backed_up", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("last_used_at", "timestamptz")
    .execute();
  await db.schema.createIndex("webauthn_credentials_user_idx").on("webauthn_credentials").column("user_id").execute();
  await db.schema
    .createTable("webauthn_challenges")
    .addColumn("id", "uuid", (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("user_id", "uuid", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("purpose", "text", (c) => c.notNull().check(sql`purpose in ('register', 'authenticate')`))
    .addColumn("challenge", "text", (c) => c.notNull().unique())
    .addColumn("mfa_challenge_id", "uuid", (c) => c.references("mfa_challenges.id").onDelete("cascade"))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .addColumn("used_at", "timestamptz")
    .execute();
  await db.schema.createIndex("webauthn_challenges_user_idx").on("webauthn_challenges").column("user_id").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("webauthn_challenges").execute();
  await db.schema.dropTable("webauthn_credentials").execute();
}
