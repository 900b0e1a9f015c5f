import { sql, type Kysely } from "kysely";

// Frozen in time: Kysely<any>, no application imports.
// The audit trail becomes a hash chain: each entry carries the SHA-256 of the one before it and of
// its own content, so a change made behind the triggers' back (by the table's owner, or on the
// disk) shows up in `rter_audit_verify()`, and a copy of the newest hash kept elsewhere (the
// export, a printout in a case file) proves that nothing before it was rewritten or removed.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("audit_log")
    .addColumn("seq", "bigint", (c) => c.unique())
    .addColumn("prev_hash", "bytea")
    .addColumn("hash", "bytea")
    .execute();

  // The canonical text of an entry: a JSON array, times in UTC to the microsecond, the detail as
  // jsonb prints it (keys sorted), so the same row always hashes the same whatever the session's
  // time zone or the client.
  await sql`
    create function rter_audit_hash(p_prev bytea, r audit_log) returns bytea language sql immutable as $$
      select sha256(coalesce(p_prev, ''::bytea) || convert_to(jsonb_build_array(
        r.seq, to_char(r.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), r.actor_id, r.actor_email, r.actor_role,
        r.token_id, r.action, r.target_type, r.target_id, r.ip, r.user_agent, r.request_id, r.detail
      )::text, 'UTF8'))
    $$`.execute(db);

  // One writer at a time extends the chain: the lock is held to the end of the inserting
  // transaction, so the next entry sees this one's hash. seq, not id, is the chain order (ids are
  // drawn before the lock and may commit out of order).
  await sql`
    create function rter_audit_chain() returns trigger language plpgsql as $$
    declare
      v_prev audit_log;
    begin
      perform pg_advisory_xact_lock(7412026, 1);
      select * into v_prev from audit_log where seq is not null order by seq desc limit 1;
      new.seq := coalesce(v_prev.seq, 0) + 1;
      new.prev_hash := v_prev.hash;
      new.hash := rter_audit_hash(v_prev.hash, new);
      return new;
    end $$`.execute(db);
  await sql`create trigger audit_log_chain before insert on audit_log for each row execute function rter_audit_chain()`.execute(db);

  // Entries written before this migration join the chain in id order (the owner may, once).
  await sql`alter table audit_log disable trigger audit_log_no_change`.execute(db);
  await sql`
    do $$
    declare
      r audit_log;
      v_prev bytea := null;
      n bigint := 0;
    begin
      for r in select * from audit_log order by id loop
        n := n + 1;
        r.seq := n;
        update audit_log set seq = n, prev_hash = v_prev, hash = rter_audit_hash(v_prev, r) where id = r.id;
        v_prev := rter_audit_hash(v_prev, r);
      end loop;
    end $$`.execute(db);
  await sql`alter table audit_log enable trigger audit_log_no_change`.execute(db);

  // Walks the chain: how many entries hold together, the first that does not (null = none), and
  // the newest good hash.
  await sql`
    create function rter_audit_verify(out entries bigint, out first_bad_seq bigint, out head_hash bytea) language plpgsql stable as $$
    declare
      r audit_log;
      v_prev bytea := null;
      n bigint := 0;
    begin
      for r in select * from audit_log order by seq nulls first, id loop
        n := n + 1;
        if r.seq is distinct from n or r.prev_hash is distinct from v_prev or r.hash is distinct from rter_audit_hash(v_prev, r) then
          entries := n - 1;
          first_bad_seq := coalesce(r.seq, -1);
          head_hash := v_prev;
          return;
        end if;
        v_prev := r.hash;
      end loop;
      entries := n;
      first_bad_seq := null;
      head_hash := v_prev;
    end $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists audit_log_chain on audit_log`.execute(db);
  await sql`drop function if exists rter_audit_verify(), rter_audit_chain(), rter_audit_hash(bytea, audit_log)`.execute(db);
  await sql`alter table audit_log disable trigger audit_log_no_change`.execute(db);
  await db.schema.alterTable("audit_log").dropColumn("hash").dropColumn("prev_hash").dropColumn("seq").execute();
  await sql`alter table audit_log enable trigger audit_log_no_change`.execute(db);
}
