import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries over items, tags and their membership: `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

export function selectItems(db: Db) {
  return db
    .selectFrom("items as i")
    .innerJoin("users as u", "u.id", "i.author_id")
    .leftJoin("streams as s", "s.id", "i.stream_id")
    .selectAll("i")
    .select(["u.email as author_email", "s.state as stream_state", "s.poster_key as stream_poster_key"])
    .select(
      sql<{ name: string; rank: number; auto: boolean }[]>`coalesce((
        select json_agg(json_build_object('name', t.name, 'rank', it.rank, 'auto', it.auto) order by t.name)
        from item_tags it join tags t on t.id = it.tag_id where it.item_id = i.id), '[]'::json)`.as("tags"),
    );
}
export type ItemRow = NonNullable<Awaited<ReturnType<ReturnType<typeof selectItems>["executeTakeFirst"]>>>;

export function findItem(db: Db, id: string) {
  return selectItems(db).where("i.id", "=", id).executeTakeFirst();
}

export function listItems(db: Db, opts: { authorId?: string; tagId?: string; limit: number }) {
  let q = selectItems(db);
  if (opts.authorId) q = q.where("i.author_id", "=", opts.authorId);
  if (opts.tagId) {
    return q
      .innerJoin("item_tags as m", "m.item_id", "i.id")
      .where("m.tag_id", "=", opts.tagId)
      .orderBy("m.rank")
      .orderBy("i.created_at")
      .limit(opts.limit)
      .execute();
  }
  return q.orderBy("i.created_at", "desc").limit(opts.limit).execute();
}

export function insertItem(
  db: Db,
  row: {
    kind: string;
    author_id: string;
    title: string;
    body: string;
    url: string | null;
    photo_key?: string | null;
    photo_type?: string | null;
    photo_sha256?: string | null;
    lat: number | null;
    lng: number | null;
    heading: number | null;
  },
) {
  return db
    .insertInto("items")
    .values({ ...row, position_at: row.lat === null ? null : new Date() })
    .returning("id")
    .executeTakeFirstOrThrow();
}

export function findTag(db: Db, name: string) {
  return db.selectFrom("tags").selectAll().where("name", "=", name).executeTakeFirst();
}

/** The tag, created when missing; `created` tells whether this call made it. */
export async function ensureTag(db: Db, name: string, userId: string): Promise<{ id: string; name: string; created: boolean }> {
  const ins = await db
    .insertInto("tags")
    .values({ name, created_by: userId })
    .onConflict((oc) => oc.column("name").doNothing())
    .returning(["id", "name"])
    .executeTakeFirst();
  if (ins) return { ...ins, created: true };
  const t = (await findTag(db, name))!;
  return { id: t.id, name: t.name, created: false };
}

/** Adds the item at the end of the tag's order; nothing when it is already there. */
export function addItemTag(db: Db, itemId: string, tagId: string, userId: string) {
  return db
    .insertInto("item_tags")
    .values({
      item_id: itemId,
      tag_id: tagId,
      added_by: userId,
      rank: sql<number>`coalesce((select max(rank) from item_tags where tag_id = ${tagId}), 0) + 1`,
    })
    .onConflict((oc) => oc.columns(["item_id", "tag_id"]).doNothing())
    .returning("rank")
    .executeTakeFirst();
}

/** The names of an item's tags (those its rules' trigger added included). */
export async function tagNamesOf(db: Db, itemId: string): Promise<string[]> {
  const rows = await db.selectFrom("item_tags as it").innerJoin("tags as t", "t.id", "it.tag_id").select("t.name").where("it.item_id", "=", itemId).execute();
  return rows.map((r) => r.name);
}

export function removeItemTag(db: Db, itemId: string, tagId: string) {
  return db.deleteFrom("item_tags").where("item_id", "=", itemId).where("tag_id", "=", tagId).returning("item_id").executeTakeFirst();
}

export function tagMembers(db: Db, tagId: string) {
  return db.selectFrom("item_tags").select(["item_id", "rank"]).where("tag_id", "=", tagId).orderBy("rank").orderBy("added_at").execute();
}

export function listTags(db: Db) {
  return db
    .selectFrom("tags as t")
    .select(["t.id", "t.name", "t.created_at"])
    .select((eb) => [
      eb.selectFrom("item_tags").select(eb.fn.countAll<string>().as("n")).whereRef("item_tags.tag_id", "=", "t.id").as("items"),
      eb.selectFrom("tag_rules").select(eb.fn.countAll<string>().as("n")).whereRef("tag_rules.tag_id", "=", "t.id").as("rules"),
    ])
    .orderBy("t.name")
    .execute();
}
