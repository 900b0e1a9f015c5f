import type { Kysely, Transaction } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries for editing an item: `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

export interface ItemChanges {
  title?: string;
  body?: string;
  lat?: number | null;
  lng?: number | null;
  heading?: number | null;
  position_at?: Date | null;
}

/** Row lock until the transaction ends: a hold placed meanwhile waits for this edit, or wins before it. */
export function lockItem(db: Db, id: string) {
  return db.selectFrom("items").select("id").where("id", "=", id).forUpdate().executeTakeFirst();
}

export function updateItem(db: Db, id: string, set: ItemChanges) {
  return db.updateTable("items").set(set).where("id", "=", id).execute();
}
