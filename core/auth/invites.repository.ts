import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries for invite links: `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;
type InviteRole = "operator" | "reporter" | "viewer";

export function insertInvite(db: Db, i: { token_hash: Buffer; role: InviteRole; note: string; created_by: string; expires_at: Date }) {
  return db.insertInto("invites").values(i).returning(["id", "expires_at"]).executeTakeFirstOrThrow();
}

/** Newest first, with the creator's email; `openOnly`: neither used, revoked nor expired. */
export function listInvites(db: Db, opts: { openOnly: boolean; limit: number }) {
  let q = db
    .selectFrom("invites")
    .leftJoin("users as u", "u.id", "invites.created_by")
    .select([
      "invites.id",
      "invites.role",
      "invites.note",
      "invites.created_at",
      "invites.expires_at",
      "invites.used_at",
      "invites.used_by",
      "invites.revoked_at",
      "u.email as created_by",
    ]);
  if (opts.openOnly) q = q.where("invites.used_at", "is", null).where("invites.revoked_at", "is", null).where("invites.expires_at", ">", sql<Date>`now()`);
  return q.orderBy("invites.created_at", "desc").limit(opts.limit).execute();
}

/** The invite row, locked for the rest of the transaction. */
export function lockInvite(trx: Transaction<DB>, id: string) {
  return trx.selectFrom("invites").selectAll().where("id", "=", id).forUpdate().executeTakeFirst();
}

export async function markRevoked(db: Db, id: string, by: string): Promise<void> {
  await db.updateTable("invites").set({ revoked_at: new Date(), revoked_by: by }).where("id", "=", id).execute();
}

/**
 * The one-time switch: marks the invite with this token hash used when it is open (not used,
 * revoked or expired). Of two concurrent uses exactly one gets the row; the other undefined.
 */
export function spendInvite(db: Db, tokenHash: Buffer) {
  return db
    .updateTable("invites")
    .set({ used_at: sql`now()` })
    .where("token_hash", "=", tokenHash)
    .where("used_at", "is", null)
    .where("revoked_at", "is", null)
    .where("expires_at", ">", sql<Date>`now()`)
    .returning(["id", "role"])
    .executeTakeFirst();
}

/** What an invite that could not be spent is (for the refusal): its id and state columns. */
export function findInviteByHash(db: Db, tokenHash: Buffer) {
  return db.selectFrom("invites").select(["id", "revoked_at", "used_at", "expires_at"]).where("token_hash", "=", tokenHash).executeTakeFirst();
}

/** The account an invite created: invite-<id>@invite.local with the invite's role, no password. */
export function insertInvitedUser(db: Db, inviteId: string, role: InviteRole) {
  return db
    .insertInto("users")
    .values({ email: `invite-${inviteId}@invite.local`, role, password_hash: null })
    .returning(["id", "email", "role", "created_at"])
    .executeTakeFirstOrThrow();
}

export async function setInviteUser(db: Db, inviteId: string, userId: string): Promise<void> {
  await db.updateTable("invites").set({ used_by: userId }).where("id", "=", inviteId).execute();
}

/** Disables the account an invite created, unless it already is. */
export async function disableInvitedUser(db: Db, userId: string): Promise<void> {
  await db.updateTable("users").set({ disabled_at: new Date() }).where("id", "=", userId).where("disabled_at", "is", null).execute();
}
