import { sql, type Kysely } from "kysely";

// Frozen in time: Kysely<any>, no application imports.
// Search by words over comments, newest item first (issue 13). A comment knew its item only by id,
// so finding the newest items with a matching comment meant walking the items newest first and
// probing each one's comments (100k items, a common word: ~5.8k probes, ~13k buffers), or looking
// up every matching comment's item through the primary key (~3-4 buffers each) to sort them. The
// comment now carries its item's created_at (set by a trigger from the item, kept if an item's
// created_at ever changes), and an index in the search order (item_created_at desc, item_id desc)
// lets the comment branch sort and page the comments themselves and touch only the page's items.
// Expand-only: a nullable column filled by triggers (a previous binary's inserts get it too),
// a backfill, an index.
export const expandOnly = true;

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table item_comments add column if not exists item_created_at timestamptz`.execute(db);
  await sql`
    create or replace function rter_comment_item_created_at() returns trigger language plpgsql as $$
    begin
      new.item_created_at := (select created_at from items where id = new.item_id);
      return new;
    end $$`.execute(db);
  await sql`drop trigger if exists item_comments_item_created_at on item_comments`.execute(db);
  await sql`create trigger item_comments_item_created_at before insert or update of item_id, item_created_at on item_comments
    for each row execute function rter_comment_item_created_at()`.execute(db);
  await sql`
    create or replace function rter_item_created_at_to_comments() returns trigger language plpgsql as $$
    begin
      update item_comments set item_created_at = new.created_at where item_id = new.id;
      return null;
    end $$`.execute(db);
  await sql`drop trigger if exists items_created_at_to_comments on items`.execute(db);
  await sql`create trigger items_created_at_to_comments after update of created_at on items
    for each row when (old.created_at is distinct from new.created_at) execute function rter_item_created_at_to_comments()`.execute(db);
  await sql`update item_comments c set item_created_at = i.created_at from items i where i.id = c.item_id and c.item_created_at is distinct from i.created_at`.execute(
    db,
  );
  await sql`create index if not exists item_comments_item_order_idx on item_comments (item_created_at desc, item_id desc)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists item_comments_item_order_idx`.execute(db);
  await sql`drop trigger if exists items_created_at_to_comments on items`.execute(db);
  await sql`drop trigger if exists item_comments_item_created_at on item_comments`.execute(db);
  await sql`drop function if exists rter_item_created_at_to_comments()`.execute(db);
  await sql`drop function if exists rter_comment_item_created_at()`.execute(db);
  await sql`alter table item_comments drop column if exists item_created_at`.execute(db);
}
