import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../../db/schema.ts";
import { pruneExpired } from "./mfa.repository.ts";

/** Thin queries of passkeys (WebAuthn credentials and ceremony challenges), `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

const VIEW = ["id", "name", "created_at", "last_used_at", "device_type", "backed_up", "transports"] as const;

export function listCredentials(db: Db, userId: string) {
  return db
    .selectFrom("webauthn_credentials")
    .select([...VIEW, "credential_id"])
    .where("user_id", "=", userId)
    .orderBy("created_at")
    .execute();
}

export async function countCredentials(db: Db, userId: string): Promise<number> {
  const r = await db
    .selectFrom("webauthn_credentials")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("user_id", "=", userId)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

export function findCredential(db: Db, userId: string, credentialId: string) {
  return db.selectFrom("webauthn_credentials").selectAll().where("user_id", "=", userId).where("credential_id", "=", credentialId).executeTakeFirst();
}

export function insertCredential(
  db: Db,
  c: {
    user_id: string;
    credential_id: string;
    public_key: Buffer;
    counter: number;
    transports: string[];
    name: string;
    aaguid: string;
    device_type: string;
    backed_up: boolean;
  },
) {
  return db
    .insertInto("webauthn_credentials")
    .values({ ...c, counter: String(c.counter) })
    .onConflict((oc) => oc.column("credential_id").doNothing())
    .returning(VIEW)
    .executeTakeFirst();
}

/**
 * Moves the signature counter from `from` to `to`, only if no other assertion moved it first (two
 * nodes answering the same replayed assertion cannot both pass). Authenticators without a counter
 * report 0 every time; that stays allowed.
 */
export async function advanceCounter(db: Db, id: string, from: string, to: number): Promise<boolean> {
  const r = await db
    .updateTable("webauthn_credentials")
    .set({ counter: String(to), last_used_at: sql`now()` })
    .where("id", "=", id)
    .where("counter", "=", from)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export function deleteCredential(db: Db, userId: string, id: string) {
  return db.deleteFrom("webauthn_credentials").where("user_id", "=", userId).where("id", "=", id).returning(["id", "name", "credential_id"]).executeTakeFirst();
}

export function deleteAllCredentials(db: Db, userId: string) {
  return db.deleteFrom("webauthn_credentials").where("user_id", "=", userId).returning("id").execute();
}

export function insertChallenge(
  db: Db,
  c: { user_id: string; purpose: "register" | "authenticate"; challenge: string; mfa_challenge_id: string | null; expires_at: Date },
) {
  return db.insertInto("webauthn_challenges").values(c).returning("id").executeTakeFirstOrThrow();
}

/**
 * Spends a live challenge of this user and purpose (and, for a sign-in, of this pending sign-in):
 * true once, false when it is unknown, expired, already used or someone else's.
 */
export async function spendChallenge(
  db: Db,
  c: { user_id: string; purpose: "register" | "authenticate"; challenge: string; mfa_challenge_id: string | null },
): Promise<boolean> {
  let q = db
    .updateTable("webauthn_challenges")
    .set({ used_at: sql`now()` })
    .where("challenge", "=", c.challenge)
    .where("user_id", "=", c.user_id)
    .where("purpose", "=", c.purpose)
    .where("used_at", "is", null)
    .where("expires_at", ">", sql<Date>`now()`);
  q = c.mfa_challenge_id === null ? q.where("mfa_challenge_id", "is", null) : q.where("mfa_challenge_id", "=", c.mfa_challenge_id);
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Old ceremonies: a challenge is useless after its expiry; keep the table small. */
export function deleteExpiredChallenges(db: Db, userId: string) {
  return db.deleteFrom("webauthn_challenges").where("user_id", "=", userId).where("expires_at", "<", sql<Date>`now() - interval '1 hour'`).execute();
}

/**
 * Expired challenges of every user, for the periodic sweep: the per-user delete above runs only
 * when that user starts another ceremony, so a user who never comes back (or a script that opens
 * ceremonies and walks away) would leave theirs forever. In batches, so one sweep never holds a
 * long delete on a table sign-ins write to.
 */
export const pruneExpiredChallenges = (db: Db, batch = 5_000): Promise<number> => pruneExpired(db, "webauthn_challenges", batch);
