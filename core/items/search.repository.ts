import { sql, type Kysely, type Transaction } from "kysely";
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

export function searchItems(db: Db, f: ItemSearch) {
  let q = selectItems(db).select(sql<string>`(extract(epoch from i.created_at) * 1000000)::bigint::text`.as("created_us"));
  if (f.q !== undefined) {
    // Two GIN indexes, one per table; the UNION lets each be used (an OR across tables could not).
    const query = sql`websearch_to_tsquery('simple', ${f.q})`;
    q = q.where(
      "i.id",
      "in",
      sql<string>`(select id from items where search @@ ${query} union select item_id from item_comments where search @@ ${query})`,
    );
  }
  if (f.bbox) q = q.where("i.lat", ">=", f.bbox.south).where("i.lat", "<=", f.bbox.north).where("i.lng", ">=", f.bbox.west).where("i.lng", "<=", f.bbox.east);
  if (f.from) q = q.where("i.created_at", ">=", f.from);
  if (f.to) q = q.where("i.created_at", "<", f.to);
  if (f.reporterId) q = q.where("i.author_id", "=", f.reporterId);
  if (f.reporterEmail) q = q.where(sql`lower(u.email)`, "=", f.reporterEmail.toLowerCase());
  if (f.kind) q = q.where("i.kind", "=", f.kind);
  if (f.authorId) q = q.where("i.author_id", "=", f.authorId);
  if (f.tagId) {
    const tagId = f.tagId;
    q = q.where((eb) => eb.exists(eb.selectFrom("item_tags as m").select("m.item_id").whereRef("m.item_id", "=", "i.id").where("m.tag_id", "=", tagId)));
  }
  if (f.before) q = q.where(sql<boolean>`(i.created_at, i.id) < (timestamptz 'epoch' + ${f.before.createdUs}::bigint * interval '1 microsecond', ${f.before.id}::uuid)`);
  return q.orderBy("i.created_at", "desc").orderBy("i.id", "desc").limit(f.limit).execute();
}
