import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries for tags' order and automatic tagging rules: `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

/** Row lock on the tag: reorders of one workspace run one at a time. */
export async function lockTag(trx: Transaction<DB>, tagId: string): Promise<void> {
  await trx.selectFrom("tags").select("id").where("id", "=", tagId).forUpdate().execute();
}

/** Ranks the tag's items 1..n in the order given (item ids). */
export async function setRanks(db: Db, tagId: string, itemIds: string[]): Promise<void> {
  await sql`update item_tags set rank = o.ord from unnest(${itemIds}::uuid[]) with ordinality as o(id, ord)
            where item_tags.tag_id = ${tagId} and item_tags.item_id = o.id`.execute(db);
}

/** The tag's rules, oldest first; `area` as Postgres writes a polygon: ((x,y),...). */
export function listRules(db: Db, tagId: string) {
  return db
    .selectFrom("tag_rules")
    .select(["id", "kind", "keyword", "created_at"])
    .select(sql<string | null>`area::text`.as("area"))
    .where("tag_id", "=", tagId)
    .orderBy("created_at")
    .execute();
}

/** `area` in Postgres polygon text, ((x,y),...), or null for a keyword rule. */
export async function insertRule(
  db: Db,
  rule: { tagId: string; kind: "keyword" | "geofence"; keyword: string | null; area: string | null; createdBy: string },
): Promise<string> {
  const { id } = await db
    .insertInto("tag_rules")
    .values({
      tag_id: rule.tagId,
      kind: rule.kind,
      keyword: rule.keyword,
      area: rule.area === null ? null : sql<string>`${rule.area}::polygon`,
      created_by: rule.createdBy,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return id;
}

/** Runs every rule over every existing item (rter_autotag tags what matches). */
export async function autotagAllItems(db: Db): Promise<void> {
  await sql`select rter_autotag(id, lat, lng, title || ' ' || body) from items`.execute(db);
}

/** True when the rule existed on this tag and is gone. */
export async function deleteRule(db: Db, tagId: string, ruleId: string): Promise<boolean> {
  const gone = await db.deleteFrom("tag_rules").where("id", "=", ruleId).where("tag_id", "=", tagId).returning("id").executeTakeFirst();
  return gone !== undefined;
}
