import { sql, type Kysely } from "kysely";

// Frozen in time: Kysely<any>, no application imports.
// Item search and timeline at incident scale (issue 13, bench/search.ts: 100k items):
// - Tag + words walked every item newest first, probing item_tags for each one matching the words
//   (2.3k rows and 4.8k buffers for a common word in a tag holding a tenth of the items). A tag
//   membership now carries its item's created_at (item_created_at, set by a trigger from the item
//   and kept if an item's created_at ever changes, as comments do since 0019), indexed in the
//   search order per tag, so the walk goes down the tag's own items only (~240 rows, ~1k buffers).
// - Timeline marks: a day's first page read every item of the day (3.2k rows, 2.1k heap pages) to
//   sort the first 2000 by (created_at, id). A partial index in that order holding what a mark
//   shows makes it an index-only walk of the first 2001 (~40 buffers) where the visibility map is
//   set (rows vacuumed since they were written; recent rows fall back to the heap). Titles are at
//   most 200 characters from the API, well under the index row limit.
// - items_author_created_idx (author_id, created_at desc) is a prefix of
//   items_author_created_id_idx (0018): every query it served, the longer one serves.
// Expand-only: a nullable column filled by triggers (a previous binary's inserts get it too), a
// backfill, indexes. Dropping the redundant index is harmless to older binaries: no statement
// names an index, and the planner takes items_author_created_id_idx for what the old one did.
export const expandOnly = true;

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table item_tags add column if not exists item_created_at timestamptz`.execute(db);
  await sql`
    create or replace function rter_tag_item_created_at() returns trigger language plpgsql as $$
    begin
      new.item_created_at := (select created_at from items where id = new.item_id);
      return new;
    end $$`.execute(db);
  await sql`drop trigger if exists item_tags_item_created_at on item_tags`.execute(db);
  await sql`create trigger item_tags_item_created_at before insert or update of item_id, item_created_at on item_tags
    for each row execute function rter_tag_item_created_at()`.execute(db);
  await sql`
    create or replace function rter_item_created_at_to_tags() returns trigger language plpgsql as $$
    begin
      update item_tags set item_created_at = new.created_at where item_id = new.id;
      return null;
    end $$`.execute(db);
  await sql`drop trigger if exists items_created_at_to_tags on items`.execute(db);
  await sql`create trigger items_created_at_to_tags after update of created_at on items
    for each row when (old.created_at is distinct from new.created_at) execute function rter_item_created_at_to_tags()`.execute(db);
  await sql`update item_tags m set item_created_at = i.created_at from items i where i.id = m.item_id and m.item_created_at is distinct from i.created_at`.execute(
    db,
  );
  await sql`create index if not exists item_tags_tag_order_idx on item_tags (tag_id, item_created_at desc, item_id desc)`.execute(db);

  await sql`create index if not exists items_marks_idx on items (created_at, id) include (kind, title, lat, lng, heading, author_id) where stream_id is null`.execute(
    db,
  );
  await sql`drop index if exists items_author_created_idx`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index if not exists items_author_created_idx on items (author_id, created_at desc)`.execute(db);
  await sql`drop index if exists items_marks_idx`.execute(db);
  await sql`drop index if exists item_tags_tag_order_idx`.execute(db);
  await sql`drop trigger if exists items_created_at_to_tags on items`.execute(db);
  await sql`drop trigger if exists item_tags_item_created_at on item_tags`.execute(db);
  await sql`drop function if exists rter_item_created_at_to_tags()`.execute(db);
  await sql`drop function if exists rter_tag_item_created_at()`.execute(db);
  await sql`alter table item_tags drop column if exists item_created_at`.execute(db);
}
