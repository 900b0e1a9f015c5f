import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../../db/schema.ts";

/** Thin queries of the second factor, `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

export function totpState(db: Db, userId: string) {
  return db
    .selectFrom("users")
    .select(["id", "email", "role", "disabled_at", "totp_secret", "totp_enabled_at", "totp_last_step"])
    .where("id", "=", userId)
    .executeTakeFirst();
}

export function insertChallenge(db: Db, c: { user_id: string; token_hash: Buffer; expires_at: Date }) {
  return db.insertInto("mfa_challenges").values(c).returning("id").executeTakeFirstOrThrow();
}

/** Counts one use of a live challenge and returns it with the attempts so far; undefined when it is unknown, used or expired. */
export function useChallenge(db: Db, tokenHash: Buffer) {
  return db
    .updateTable("mfa_challenges")
    .set({ attempts: sql`attempts + 1` })
    .where("token_hash", "=", tokenHash)
    .where("used_at", "is", null)
    .where("expires_at", ">", sql<Date>`now()`)
    .returning(["id", "user_id", "attempts"])
    .executeTakeFirst();
}

/**
 * Deletes challenges of a sign-in or passkey ceremony expired for over an hour, used or not:
 * none can finish anything any more, and every password step of an MFA account leaves one. In
 * batches, so one sweep never holds a long delete (a sign-in challenge takes its passkey
 * ceremonies with it: on delete cascade). Returns how many.
 */
export async function pruneExpired(db: Db, table: "mfa_challenges" | "webauthn_challenges", batch = 5_000): Promise<number> {
  let total = 0;
  for (;;) {
    const r = await sql`delete from ${sql.table(table)} where id in (
      select id from ${sql.table(table)} where expires_at < now() - interval '1 hour' limit ${batch})`.execute(db);
    const n = Number(r.numAffectedRows ?? 0);
    total += n;
    if (n < batch) return total;
  }
}

export function finishChallenge(db: Db, id: string) {
  return db.updateTable("mfa_challenges").set({ used_at: sql`now()` }).where("id", "=", id).execute();
}

export function setPendingSecret(db: Db, userId: string, secret: string) {
  return db.updateTable("users").set({ totp_secret: secret }).where("id", "=", userId).where("totp_enabled_at", "is", null).execute();
}

/** Records an accepted step, only if it is later than the last one (so one code works once, even across nodes). */
export async function acceptStep(db: Db, userId: string, step: number): Promise<boolean> {
  const r = await db
    .updateTable("users")
    .set({ totp_last_step: step, totp_enabled_at: sql`coalesce(totp_enabled_at, now())` })
    .where("id", "=", userId)
    .where((eb) => eb.or([eb("totp_last_step", "is", null), eb("totp_last_step", "<", String(step))]))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export function replaceRecoveryCodes(db: Db, userId: string, hashes: Buffer[]) {
  return db.transaction().execute(async (trx) => {
    await trx.deleteFrom("mfa_recovery_codes").where("user_id", "=", userId).execute();
    await trx
      .insertInto("mfa_recovery_codes")
      .values(hashes.map((code_hash) => ({ user_id: userId, code_hash })))
      .execute();
  });
}

export async function useRecoveryCode(db: Db, userId: string, hash: Buffer): Promise<boolean> {
  const r = await db
    .updateTable("mfa_recovery_codes")
    .set({ used_at: sql`now()` })
    .where("user_id", "=", userId)
    .where("code_hash", "=", hash)
    .where("used_at", "is", null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export function countUnusedRecoveryCodes(db: Db, userId: string) {
  return db
    .selectFrom("mfa_recovery_codes")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("user_id", "=", userId)
    .where("used_at", "is", null)
    .executeTakeFirstOrThrow();
}

export function clearMfa(db: Db, userId: string) {
  return db.transaction().execute(async (trx) => {
    await trx.deleteFrom("mfa_recovery_codes").where("user_id", "=", userId).execute();
    await trx.updateTable("mfa_challenges").set({ used_at: sql`now()` }).where("user_id", "=", userId).where("used_at", "is", null).execute();
    return trx
      .updateTable("users")
      .set({ totp_secret: null, totp_enabled_at: null, totp_last_step: null })
      .where("id", "=", userId)
      .returning(["id", "email", "role"])
      .executeTakeFirst();
  });
}

/** Drops a TOTP secret that was handed out but never confirmed by a code. */
export function clearPendingSecret(db: Db, userId: string) {
  return db.updateTable("users").set({ totp_secret: null }).where("id", "=", userId).where("totp_enabled_at", "is", null).execute();
}
