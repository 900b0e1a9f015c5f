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

/** The filters other than words, on items aliased `i`. */
function conditions(f: ItemSearch): RawBuilder<boolean>[] {
  const c: RawBuilder<boolean>[] = [];
  if (f.bbox) c.push(sql`i.lat between ${f.bbox.south} and ${f.bbox.north} and i.lng between ${f.bbox.west} and ${f.bbox.east}`);
  if (f.from) c.push(sql`i.created_at >= ${f.from}`);
  if (f.to) c.push(sql`i.created_at < ${f.to}`);
  if (f.reporterId) c.push(sql`i.author_id = ${f.reporterId}::uuid`);
  if (f.reporterEmail) c.push(sql`i.author_id = (select id from users where lower(email) = ${f.reporterEmail.toLowerCase()})`);
  if (f.kind) c.push(sql`i.kind = ${f.kind}`);
  if (f.authorId) c.push(sql`i.author_id = ${f.authorId}::uuid`);
  if (f.tagId) c.push(sql`exists (select 1 from item_tags m where m.item_id = i.id and m.tag_id = ${f.tagId}::uuid)`);
  if (f.before) c.push(sql`(i.created_at, i.id) < (timestamptz 'epoch' + ${f.before.createdUs}::bigint * interval '1 microsecond', ${f.before.id}::uuid)`);
  return c;
}

/**
 * Newest first. With words, the page's ids come from two branches, each limited on its own —
 * items whose title or body match, items with a matching comment — so the planner can take,
 * per branch, the GIN index (rare words) or a walk down the created_at index that stops after
 * one page (common words); an OR across the two tables would leave it neither.
 */
export async function searchItems(db: Db, f: ItemSearch) {
  const conds = conditions(f);
  const and = conds.length ? sql`and ${sql.join(conds, sql` and `)}` : sql``;
  let q = selectItems(db).select(sql<string>`(extract(epoch from i.created_at) * 1000000)::bigint::text`.as("created_us"));
  if (f.q !== undefined) {
    const tsq = sql`websearch_to_tsquery('simple', ${f.q})`;
    const { rows } = await sql<{ id: string }>`
      select id from (
        (select i.id, i.created_at from items i where i.search @@ ${tsq} ${and} order by i.created_at desc, i.id desc limit ${f.limit})
        union
        (select i.id, i.created_at from items i where exists (select 1 from item_comments c where c.item_id = i.id and c.search @@ ${tsq}) ${and}
         order by i.created_at desc, i.id desc limit ${f.limit})
      ) m order by created_at desc, id desc limit ${f.limit}`.execute(db);
    if (!rows.length) return [];
    q = q.where("i.id", "in", rows.map((r) => r.id));
  } else if (conds.length) q = q.where(sql<boolean>`${sql.join(conds, sql` and `)}`);
  return q.orderBy("i.created_at", "desc").orderBy("i.id", "desc").limit(f.limit).execute();
}
