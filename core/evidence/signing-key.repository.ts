import type { Kysely, Transaction } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries for the appliance's one signing key (row id 1): `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

export function findSigningKey(db: Db) {
  return db.selectFrom("signing_keys").selectAll().where("id", "=", 1).executeTakeFirst();
}

/** Stores the key unless one is stored already (the insert that loses a race keeps the winner's). */
export async function insertSigningKeyIfNone(db: Db, key: { private_key: Buffer; public_key: Buffer }): Promise<void> {
  await db
    .insertInto("signing_keys")
    .values({ id: 1, algorithm: "ed25519", ...key })
    .onConflict((oc) => oc.column("id").doNothing())
    .execute();
}
