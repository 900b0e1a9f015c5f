import { sql, type Kysely, type RawBuilder, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";
import { selectItems } from "./items.repository.ts";

/** The item search query: `db` first, no rules. Every filter is optional; all are ANDed. */
type Db = Kysely<DB> | Transaction<DB>;

export interface ItemSearch {
  /** websearch syntax ("flood bridge", "\"black smoke\"", "-test", "a or b") over titles, bodies and comments. */
  q?: string;
  bbox?: { west: number; south: number; east: number; north: number };
  from?: Date;
  to?: Date;
  /** An author id, or an email. */
  reporterId?: string;
  reporterEmail?: string;
  kind?: string;
  tagId?: string;
  /** Reporters: only their own. */
  authorId?: string;
  /** Keyset: items older than (createdUs, id), newest first. */
  before?: { createdUs: string; id: string };
  limit: number;
}

const ts = (us: string) => sql`(timestamptz 'epoch' + ${us}::bigint * interval '1 microsecond')`;
const all = (c: RawBuilder<boolean>[]) => (c.length ? sql.join(c, sql` and `) : sql`true`);

/** Time window and keyset, on a creation time and id in the search order (an item's, or a comment's copy of its item's). */
function orderConditions(f: ItemSearch, at: RawBuilder<unknown>, id: RawBuilder<unknown>): RawBuilder<boolean>[] {
  const c: RawBuilder<boolean>[] = [];
  if (f.from) c.push(sql`${at} >= ${f.from}`);
  if (f.to) c.push(sql`${at} < ${f.to}`);
  if (f.before) c.push(sql`(${at}, ${id}) < (${ts(f.before.createdUs)}, ${f.before.id}::uuid)`);
  return c;
}

/** The filters on the item itself (aliased `i`) other than words and order. */
function itemConditions(f: ItemSearch, withTag = true): RawBuilder<boolean>[] {
  const c: RawBuilder<boolean>[] = [];
  if (f.bbox) c.push(sql`i.lat between ${f.bbox.south} and ${f.bbox.north} and i.lng between ${f.bbox.west} and ${f.bbox.east}`);
  if (f.reporterId) c.push(sql`i.author_id = ${f.reporterId}::uuid`);
  if (f.reporterEmail) c.push(sql`i.author_id = (select id from users where lower(email) = ${f.reporterEmail.toLowerCase()})`);
  if (f.kind) c.push(sql`i.kind = ${f.kind}`);
  if (f.authorId) c.push(sql`i.author_id = ${f.authorId}::uuid`);
  if (f.tagId && withTag) c.push(sql`exists (select 1 from item_tags m where m.item_id = i.id and m.tag_id = ${f.tagId}::uuid)`);
  return c;
}

/** Comments walked in the search order before the comment branch turns to the GIN index. */
const COMMENT_WALK = 200;

/**
 * Items with a comment matching the words, newest first, by the comments' copy of their item's
 * created_at (migration 0019). Two parts under one LIMIT, split at the COMMENT_WALK-th comment of
 * item_comments_item_order_idx: the newest COMMENT_WALK comments walked in order (a word in most
 * comments fills the page there), the older ones (from the split on) from the GIN
 * index, fenced by OFFSET 0 so it stays a bitmap scan whatever the estimate, sorted. The second
 * runs only when the first left the page short, and costs about the number of its matching
 * comments, instead of probing every newer item for comments (13k buffers for a common word at
 * 100k items) or walking every comment until a page is full.
 */
function commentBranch(f: ItemSearch, tsq: RawBuilder<unknown>): RawBuilder<unknown> {
  const rest = itemConditions(f);
  const order = all(orderConditions(f, sql`c.item_created_at`, sql`c.item_id`));
  const join = rest.length ? sql`join items i on i.id = c.item_id and ${all(rest)}` : sql``;
  // The split is the COMMENT_WALK-th comment's key; both parts include it, so an item whose comments
  // straddle it is in both: at most one item, hence a limit of one more (the union above dedups).
  const split = sql`(select c.item_created_at, c.item_id from item_comments c where ${order} order by c.item_created_at desc, c.item_id desc offset ${COMMENT_WALK - 1} limit 1)`;
  return sql`(select * from (
      (select distinct c.item_id, c.item_created_at from
         (select c.item_id, c.item_created_at, c.search from item_comments c where ${order} order by c.item_created_at desc, c.item_id desc limit ${COMMENT_WALK}) c ${join}
       where c.search @@ ${tsq} order by c.item_created_at desc, c.item_id desc limit ${f.limit + 1})
      union all
      (select distinct c.item_id, c.item_created_at from
         (select c.item_id, c.item_created_at from item_comments c where c.search @@ ${tsq} and ${order} and (c.item_created_at, c.item_id) <= ${split} offset 0) c ${join}
       order by c.item_created_at desc, c.item_id desc limit ${f.limit + 1})
    ) cm limit ${f.limit + 1})`;
}

/** A quoted phrase of two words or more: websearch_to_tsquery makes it a `<->` (followed-by) query. */
const PHRASE = /"[^"]*[^\s"][\s-]+[^\s"][^"]*"/;

/**
 * Items whose title or body match the words, newest first, one page. In a tag (without a phrase): a walk down the
 * tag's own items in the search order (item_tags.item_created_at, migration 0020) — for a common
 * word that stops after about `page / share of the tag's items matching`, not after every item's
 * — or, for rare words, the planner's GIN scan joined to the tag. With a phrase: the GIN index,
 * fenced (OFFSET 0) so the planner cannot walk: it estimates a phrase like its words ANDed, and
 * walked ~8.5k items for "power line" at 100k items where the GIN candidates (items holding both
 * words) are read in ~2.6k heap pages. Otherwise the planner picks a GIN scan (rare words) or a
 * walk down an index in the search order that stops after one page (common words).
 */
function itemBranch(f: ItemSearch & { q: string }, tsq: RawBuilder<unknown>): RawBuilder<unknown> {
  const onItem = all([...orderConditions(f, sql`i.created_at`, sql`i.id`), ...itemConditions(f)]);
  // Phrase first, tag or not: the tag walk would go on for about `page / share of the tag's items holding the phrase`.
  if (PHRASE.test(f.q))
    return sql`(select i.id, i.created_at from (select i.id, i.created_at from items i where i.search @@ ${tsq} and ${onItem} offset 0) i
      order by i.created_at desc, i.id desc limit ${f.limit})`;
  if (f.tagId) {
    const onTagged = all([...orderConditions(f, sql`m.item_created_at`, sql`m.item_id`), ...itemConditions(f, false)]);
    return sql`(select i.id, i.created_at from item_tags m join items i on i.id = m.item_id
      where m.tag_id = ${f.tagId}::uuid and i.search @@ ${tsq} and ${onTagged} order by m.item_created_at desc, m.item_id desc limit ${f.limit})`;
  }
  return sql`(select i.id, i.created_at from items i where i.search @@ ${tsq} and ${onItem} order by i.created_at desc, i.id desc limit ${f.limit})`;
}

/**
 * The page's item ids, newest first. With words, from two branches, each limited on its own —
 * items whose title or body match (itemBranch), items with a matching comment (commentBranch) —
 * as an OR across the two tables would leave the planner no index for either.
 */
function pageIds(f: ItemSearch & { q: string }): RawBuilder<{ id: string }> {
  const tsq = sql`websearch_to_tsquery('simple', ${f.q})`;
  return sql`
    select id from (
      ${itemBranch(f, tsq)}
      union
      ${commentBranch(f, tsq)}
    ) m order by created_at desc, id desc limit ${f.limit}`;
}

/** Newest first, in one statement: without words, the filters on the rows; with, the page's ids (pageIds), then their rows. */
export async function searchItems(db: Db, f: ItemSearch) {
  return selectItems(db)
    .select(sql<string>`(extract(epoch from i.created_at) * 1000000)::bigint::text`.as("created_us"))
    .where(
      f.q === undefined
        ? sql<boolean>`${all([...orderConditions(f, sql`i.created_at`, sql`i.id`), ...itemConditions(f)])}`
        : sql<boolean>`i.id in (${pageIds({ ...f, q: f.q })})`,
    )
    .orderBy("i.created_at", "desc")
    .orderBy("i.id", "desc")
    .limit(f.limit)
    .execute();
}
