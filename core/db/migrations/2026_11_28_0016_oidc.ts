import { sql, type Kysely } from "kysely";

// Frozen in time: Kysely<any>, no application imports.
// Issue 12: sign-in through an OpenID Connect provider.
// - users.oidc_issuer / oidc_subject: the provider account (iss, sub) an rter account is linked to.
//   Only this pair links: never the email claim, which a provider account may set to anything.
//   oidc_checked_at: the last time the provider confirmed the account's groups (sign-in or refresh),
//   so a re-check that disables the account can be told from an admin's later disabling.
// - oidc_sessions: per rter session started through the provider, the refresh token that re-reads
//   the groups and the ID token sent back as id_token_hint at logout. Gone with its session row.
// Expand-only: new nullable columns and a new table; a rolled-back binary ignores them.
export const expandOnly = true;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("users").addColumn("oidc_issuer", "text").addColumn("oidc_subject", "text").addColumn("oidc_checked_at", "timestamptz").execute();
  await db.schema.createIndex("users_oidc_identity_idx").on("users").columns(["oidc_issuer", "oidc_subject"]).unique().execute();
  await db.schema
    .createTable("oidc_sessions")
    .addColumn("token_id", "uuid", (c) => c.primaryKey().references("api_tokens.id").onDelete("cascade"))
    .addColumn("user_id", "uuid", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("refresh_token", "text")
    .addColumn("id_token", "text")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("checked_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("oidc_sessions_user_idx").on("oidc_sessions").column("user_id").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("oidc_sessions").execute();
  await db.schema.dropIndex("users_oidc_identity_idx").execute();
  await db.schema.alterTable("users").dropColumn("oidc_issuer").dropColumn("oidc_subject").dropColumn("oidc_checked_at").execute();
}
