import { sql, type Kysely } from "kysely";

// Frozen in time: Kysely<any>, no application imports.
// Accounts and evidence: scoped API tokens, the session signing secret, login lockout, shared
// rate-limit counters, invite links, the append-only audit trail, legal holds and retention.
export async function up(db: Kysely<any>): Promise<void> {
  // A token may act with a smaller role than its user's, and carry its own rate limit.
  await db.schema
    .alterTable("api_tokens")
    .addColumn("role", "text", (c) => c.check(sql`role in ('admin','operator','reporter','viewer')`))
    .addColumn("rate_limit_per_minute", "integer", (c) => c.check(sql`rate_limit_per_minute > 0`))
    .addColumn("created_by", "uuid", (c) => c.references("users.id").onDelete("set null"))
    .execute();

  // Signing key of session tokens when --session-secret is not set: one row, made on first use,
  // so every API node of a cluster verifies what any other signed.
  await db.schema
    .createTable("auth_secrets")
    .addColumn("id", "smallint", (c) => c.primaryKey().check(sql`id = 1`))
    .addColumn("secret", "bytea", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // Keyed by the address typed, known or not, so a lockout says nothing about which accounts exist.
  await db.schema
    .createTable("login_failures")
    .addColumn("email", sql`citext`, (c) => c.primaryKey())
    // Attempts under way or failed since the last success (an attempt counts before its password is checked).
    .addColumn("failures", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("locked_until", "timestamptz")
    .addColumn("last_attempt_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // Fixed-window request counters shared by all API nodes. Unlogged: no WAL per request, and a
  // crash only forgets the current windows.
  await sql`create unlogged table rate_counters (
    key text primary key,
    window_start timestamptz not null,
    hits integer not null
  )`.execute(db);

  // Invite links: only the hash of the token is kept, like API tokens.
  await db.schema
    .createTable("invites")
    .addColumn("id", "uuid", (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("token_hash", "bytea", (c) => c.notNull().unique())
    .addColumn("role", "text", (c) => c.notNull().defaultTo("reporter").check(sql`role in ('operator','reporter','viewer')`))
    .addColumn("note", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("created_by", "uuid", (c) => c.references("users.id").onDelete("set null"))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .addColumn("revoked_at", "timestamptz")
    .addColumn("revoked_by", "uuid", (c) => c.references("users.id").onDelete("set null"))
    .addColumn("used_at", "timestamptz")
    .addColumn("used_by", "uuid", (c) => c.references("users.id").onDelete("set null"))
    .execute();
  await db.schema.createIndex("invites_created_idx").on("invites").column("created_at").execute();

  // Who did what, to what, when, from where. No foreign keys: the record outlives users and streams.
  await db.schema
    .createTable("audit_log")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("at", "timestamptz", (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .addColumn("actor_id", "uuid")
    .addColumn("actor_email", "text")
    .addColumn("actor_role", "text")
    .addColumn("token_id", "uuid")
    .addColumn("action", "text", (c) => c.notNull())
    .addColumn("target_type", "text")
    .addColumn("target_id", "text")
    .addColumn("ip", "text")
    .addColumn("user_agent", "text")
    .addColumn("request_id", "text")
    .addColumn("detail", "jsonb", (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  await db.schema.createIndex("audit_log_actor_idx").on("audit_log").columns(["actor_id", "id"]).execute();
  await db.schema.createIndex("audit_log_target_idx").on("audit_log").columns(["target_id", "action", "id"]).execute();
  await db.schema.createIndex("audit_log_action_idx").on("audit_log").columns(["action", "id"]).execute();
  await db.schema.createIndex("audit_log_at_idx").on("audit_log").column("at").execute();

  // Append-only, enforced by the database itself: the application's own credentials cannot
  // change or remove a row. (The table owner could still drop the trigger: see the README.)
  await sql`
    create function rter_audit_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_log is append-only: % is not allowed', tg_op using errcode = 'RTA01';
    end $$`.execute(db);
  await sql`create trigger audit_log_no_change before update or delete on audit_log for each row execute function rter_audit_append_only()`.execute(db);
  await sql`create trigger audit_log_no_truncate before truncate on audit_log for each statement execute function rter_audit_append_only()`.execute(db);
  await sql`revoke update, delete, truncate on audit_log from public`.execute(db);

  // Legal holds. A hold is released, never deleted; its record outlives the stream (no FK).
  // item_id is for items other than streams (a stream's item is held through its stream).
  await db.schema
    .createTable("legal_holds")
    .addColumn("id", "uuid", (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("stream_id", "uuid")
    .addColumn("item_id", "uuid")
    .addColumn("reason", "text", (c) => c.notNull())
    .addColumn("placed_by", "uuid")
    .addColumn("placed_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("released_by", "uuid")
    .addColumn("released_at", "timestamptz")
    .addColumn("release_reason", "text")
    .addCheckConstraint("legal_holds_one_target", sql`num_nonnulls(stream_id, item_id) = 1`)
    .execute();
  await db.schema.createIndex("legal_holds_stream_active").on("legal_holds").column("stream_id").unique().where(sql.ref("released_at"), "is", null).execute();
  await db.schema.createIndex("legal_holds_item_active").on("legal_holds").column("item_id").unique().where(sql.ref("released_at"), "is", null).execute();

  await sql`
    create function rter_hold_active(p_stream uuid, p_item uuid) returns boolean language sql stable as $$
      select exists (
        select 1 from legal_holds
        where released_at is null
          and ((p_stream is not null and stream_id = p_stream) or (p_item is not null and item_id = p_item))
      )
    $$`.execute(db);

  // Nothing of a held stream can be deleted by anyone: not admins, not the retention job, not a
  // direct SQL session. Rows of tables with a stream_id (chunks, segments, telemetry) and streams.
  await sql`
    create function rter_refuse_held_delete() returns trigger language plpgsql as $$
    declare
      v_stream uuid;
    begin
      if tg_table_name = 'streams' then v_stream := old.id; else v_stream := old.stream_id; end if;
      if rter_hold_active(v_stream, null) then
        raise exception 'stream % is under legal hold', v_stream using errcode = 'RTH01';
      end if;
      return old;
    end $$`.execute(db);
  // For other items (e.g. an items table with id and stream_id): attach as a before-delete trigger.
  await sql`
    create function rter_refuse_held_item_delete() returns trigger language plpgsql as $$
    begin
      if rter_hold_active(old.stream_id, old.id) then
        raise exception 'item % is under legal hold', old.id using errcode = 'RTH01';
      end if;
      return old;
    end $$`.execute(db);
  await sql`
    create function rter_refuse_held_truncate() returns trigger language plpgsql as $$
    begin
      if exists (select 1 from legal_holds where released_at is null) then
        raise exception 'cannot truncate %: legal holds are in force', tg_table_name using errcode = 'RTH01';
      end if;
      return null;
    end $$`.execute(db);
  for (const t of ["streams", "chunks", "segments", "telemetry"]) {
    await sql`create trigger ${sql.id(`${t}_legal_hold`)} before delete on ${sql.table(t)} for each row execute function rter_refuse_held_delete()`.execute(db);
    await sql`create trigger ${sql.id(`${t}_legal_hold_truncate`)} before truncate on ${sql.table(t)} for each statement execute function rter_refuse_held_truncate()`.execute(
      db,
    );
  }

  // A hold record is evidence too: it may be released once, never removed or rewritten.
  await sql`
    create function rter_hold_record_guard() returns trigger language plpgsql as $$
    begin
      if tg_op = 'DELETE' then
        raise exception 'legal hold records cannot be deleted' using errcode = 'RTH01';
      end if;
      if old.released_at is not null
         or new.stream_id is distinct from old.stream_id or new.item_id is distinct from old.item_id
         or new.reason is distinct from old.reason or new.placed_by is distinct from old.placed_by
         or new.placed_at is distinct from old.placed_at then
        raise exception 'a legal hold can only be released, once' using errcode = 'RTH01';
      end if;
      return new;
    end $$`.execute(db);
  await sql`create trigger legal_holds_guard before update or delete on legal_holds for each row execute function rter_hold_record_guard()`.execute(db);

  // Per-stream retention; no row = the --retention default. keep_days null = keep forever.
  await db.schema
    .createTable("stream_retention")
    .addColumn("stream_id", "uuid", (c) => c.primaryKey().references("streams.id").onDelete("cascade"))
    .addColumn("keep_days", "integer", (c) => c.check(sql`keep_days > 0`))
    .addColumn("set_by", "uuid")
    .addColumn("set_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("streams_finished_idx").on("streams").column("finished_at").where(sql.ref("finished_at"), "is not", null).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ["streams", "chunks", "segments", "telemetry"]) {
    await sql`drop trigger if exists ${sql.id(`${t}_legal_hold`)} on ${sql.table(t)}`.execute(db);
    await sql`drop trigger if exists ${sql.id(`${t}_legal_hold_truncate`)} on ${sql.table(t)}`.execute(db);
  }
  await db.schema.dropIndex("streams_finished_idx").execute();
  for (const t of ["stream_retention", "legal_holds", "audit_log", "invites", "rate_counters", "login_failures", "auth_secrets"])
    await db.schema.dropTable(t).execute();
  await sql`drop function if exists rter_hold_record_guard(), rter_refuse_held_truncate(), rter_refuse_held_item_delete(), rter_refuse_held_delete(), rter_hold_active(uuid, uuid), rter_audit_append_only()`.execute(
    db,
  );
  for (const c of ["created_by", "rate_limit_per_minute", "role"]) await db.schema.alterTable("api_tokens").dropColumn(c).execute();
}
