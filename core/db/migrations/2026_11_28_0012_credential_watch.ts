import { sql, type Kysely } from "kysely";

// Frozen in time: Kysely<any>, no application imports.
// Open event streams follow their credential (issue 11):
// - Any change that can end a credential (a token revoked; a user's role, disabled flag or
//   password changed) NOTIFYs `rter_auth` with the user id, from the database itself, so every
//   API node learns of it whatever wrote it (API, CLI, direct SQL) and rechecks its streams at once.
// - event_leases: one row per open event stream, renewed by its node, so a per-user limit on
//   open streams holds across API nodes. Unlogged: a crash forgets them, and a lease not renewed
//   for a while counts as gone.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function rter_notify_auth() returns trigger language plpgsql as $$
    begin
      if tg_table_name = 'api_tokens' then
        perform pg_notify('rter_auth', new.user_id::text);
      else
        perform pg_notify('rter_auth', new.id::text);
      end if;
      return null;
    end $$`.execute(db);
  await sql`
    create trigger api_tokens_notify_auth after update of revoked_at on api_tokens
    for each row when (old.revoked_at is null and new.revoked_at is not null)
    execute function rter_notify_auth()`.execute(db);
  await sql`
    create trigger users_notify_auth after update of role, disabled_at, password_hash on users
    for each row when (old.role is distinct from new.role or old.disabled_at is distinct from new.disabled_at or old.password_hash is distinct from new.password_hash)
    execute function rter_notify_auth()`.execute(db);

  await sql`create unlogged table event_leases (
    id uuid primary key,
    user_id uuid not null references users(id) on delete cascade,
    node_id text not null,
    opened_at timestamptz not null default now(),
    renewed_at timestamptz not null default now()
  )`.execute(db);
  await db.schema.createIndex("event_leases_user_idx").on("event_leases").columns(["user_id", "renewed_at"]).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("event_leases").execute();
  await sql`drop trigger users_notify_auth on users`.execute(db);
  await sql`drop trigger api_tokens_notify_auth on api_tokens`.execute(db);
  await sql`drop function rter_notify_auth()`.execute(db);
}
