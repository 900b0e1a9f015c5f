import { sql, type Kysely, type Transaction } from "kysely";
import type { DB, UserRole } from "../../db/schema.ts";

/** Thin queries on directory accounts, `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

export function findByDn(db: Db, dn: string) {
  return db.selectFrom("users").select(["id", "email", "role", "disabled_at", "directory_checked_at"]).where("directory_dn", "=", dn).executeTakeFirst();
}

/**
 * Creates or refreshes the row of a directory account after a successful sign-in. A row the
 * directory re-check disabled (disabled_at = directory_checked_at, set together) is enabled
 * again; one an admin disabled in rter later stays disabled.
 */
export async function upsertDirectoryUser(db: Db, u: { dn: string; email: string; role: UserRole }) {
  const { rows } = await sql<{ id: string; email: string; role: UserRole; disabled_at: Date | null }>`
    insert into users (email, role, password_hash, directory_dn, directory_checked_at)
    values (${u.email}, ${u.role}, null, ${u.dn}, now())
    on conflict (directory_dn) do update set
      email = excluded.email,
      role = excluded.role,
      disabled_at = case when users.disabled_at is not null and users.disabled_at <= users.directory_checked_at then null else users.disabled_at end,
      directory_checked_at = now()
    returning id, email, role, disabled_at`.execute(db);
  return rows[0]!;
}

/** The re-check's outcome: the role now, or disabled (disabled_at and directory_checked_at alike). */
export function recordCheck(db: Db, id: string, set: { role: UserRole } | { disabled: true }) {
  const q = db.updateTable("users").where("id", "=", id).where("directory_dn", "is not", null);
  return (
    "disabled" in set ? q.set({ disabled_at: sql`now()`, directory_checked_at: sql`now()` }) : q.set({ role: set.role, directory_checked_at: sql`now()` })
  ).execute();
}
