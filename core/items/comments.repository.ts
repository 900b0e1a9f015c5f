import type { Kysely, Transaction } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries over item_comments: `db` first, no rules. Comments are never changed or deleted here. */
type Db = Kysely<DB> | Transaction<DB>;

export function insertComment(db: Db, row: { item_id: string; author_id: string; body: string }) {
  return db.insertInto("item_comments").values(row).returning(["id", "created_at"]).executeTakeFirstOrThrow();
}

/** Oldest first; `after` is the id of the last comment of the previous page. */
export function listComments(db: Db, itemId: string, opts: { after?: string; limit: number }) {
  let q = db
    .selectFrom("item_comments as c")
    .innerJoin("users as u", "u.id", "c.author_id")
    .select(["c.id", "c.item_id", "c.body", "c.created_at", "c.author_id", "u.email as author_email"])
    .where("c.item_id", "=", itemId);
  if (opts.after) {
    const after = opts.after;
    q = q.where((eb) =>
      eb(
        eb.refTuple("c.created_at", "c.id"),
        ">",
        eb.selectFrom("item_comments").select(["created_at", "id"]).where("id", "=", after).where("item_id", "=", itemId) as never,
      ),
    );
  }
  return q.orderBy("c.created_at").orderBy("c.id").limit(opts.limit).execute();
}
export type CommentRow = Awaited<ReturnType<typeof listComments>>[number];

export function commentExists(db: Db, itemId: string, id: string) {
  return db.selectFrom("item_comments").select("id").where("id", "=", id).where("item_id", "=", itemId).executeTakeFirst();
}
