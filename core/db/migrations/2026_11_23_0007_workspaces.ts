import { sql, type Kysely } from "kysely";

// Frozen in time: Kysely<any>, no application imports.
// Items (streams, text reports, photos, links), tags that open workspaces, per-workspace ranking,
// automatic tagging rules and reporter guidance.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("items")
    .addColumn("id", "uuid", (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("kind", "text", (c) => c.notNull().check(sql`kind in ('stream','text','photo','link')`))
    // A stream's item shares nothing but a reference: the stream stays the source of truth.
    .addColumn("stream_id", "uuid", (c) => c.unique().references("streams.id").onDelete("cascade"))
    .addColumn("author_id", "uuid", (c) => c.notNull().references("users.id"))
    .addColumn("title", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("body", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("url", "text")
    .addColumn("photo_key", "text")
    .addColumn("photo_type", "text")
    .addColumn("photo_sha256", "text")
    .addColumn("lat", "float8")
    .addColumn("lng", "float8")
    .addColumn("heading", "float8")
    // Capture time of the position (a stream's newest telemetry sample).
    .addColumn("position_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("items_created_idx").on("items").column("created_at").execute();

  await db.schema
    .createTable("tags")
    .addColumn("id", "uuid", (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("name", sql`citext`, (c) => c.notNull().unique())
    .addColumn("created_by", "uuid", (c) => c.references("users.id"))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // Membership of an item in a tag's workspace, with its place in that workspace's order.
  await db.schema
    .createTable("item_tags")
    .addColumn("item_id", "uuid", (c) => c.notNull().references("items.id").onDelete("cascade"))
    .addColumn("tag_id", "uuid", (c) => c.notNull().references("tags.id").onDelete("cascade"))
    .addColumn("rank", "float8", (c) => c.notNull())
    .addColumn("auto", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("added_by", "uuid", (c) => c.references("users.id"))
    .addColumn("added_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("item_tags_pk", ["item_id", "tag_id"])
    .execute();
  await db.schema.createIndex("item_tags_rank_idx").on("item_tags").columns(["tag_id", "rank"]).execute();

  // Automatic tagging: an item whose position lies in `area`, or whose text holds `keyword`.
  await db.schema
    .createTable("tag_rules")
    .addColumn("id", "uuid", (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("tag_id", "uuid", (c) => c.notNull().references("tags.id").onDelete("cascade"))
    .addColumn("kind", "text", (c) => c.notNull().check(sql`kind in ('geofence','keyword')`))
    // Postgres' own polygon, x = longitude, y = latitude: `area @> point(lng, lat)`.
    .addColumn("area", sql`polygon`)
    .addColumn("keyword", "text")
    .addColumn("created_by", "uuid", (c) => c.references("users.id"))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint("tag_rules_shape", sql`(kind = 'geofence' and area is not null) or (kind = 'keyword' and keyword is not null)`)
    .execute();

  await db.schema
    .createTable("guidance")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("stream_id", "uuid", (c) => c.notNull().references("streams.id").onDelete("cascade"))
    .addColumn("set_by", "uuid", (c) => c.references("users.id"))
    .addColumn("lat", "float8")
    .addColumn("lng", "float8")
    .addColumn("heading", "float8")
    .addColumn("message", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("cleared_at", "timestamptz")
    .execute();
  await db.schema.createIndex("guidance_stream_idx").on("guidance").columns(["stream_id", "id"]).execute();

  // Applies every matching rule to one item; a tag newly added is an event, like any other change.
  await sql`
    create function rter_autotag(p_item uuid, p_lat float8, p_lng float8, p_text text) returns void
    language plpgsql as $$
    declare
      r record;
      n integer;
    begin
      for r in
        select distinct t.id, t.name from tag_rules tr join tags t on t.id = tr.tag_id
        where (tr.kind = 'keyword' and p_text is not null and position(lower(tr.keyword) in lower(p_text)) > 0)
           or (tr.kind = 'geofence' and p_lat is not null and p_lng is not null and tr.area @> point(p_lng, p_lat))
      loop
        insert into item_tags (item_id, tag_id, rank, auto)
        values (p_item, r.id, coalesce((select max(rank) from item_tags where tag_id = r.id), 0) + 1, true)
        on conflict do nothing;
        get diagnostics n = row_count;
        if n > 0 then
          insert into events (type, data) values ('tag.added', jsonb_build_object('item_id', p_item, 'tag', r.name::text, 'auto', true));
          perform pg_notify('rter_events', '');
        end if;
      end loop;
    end $$`.execute(db);

  await sql`
    create function rter_items_autotag() returns trigger language plpgsql as $$
    begin
      perform rter_autotag(new.id, new.lat, new.lng, new.title || ' ' || new.body);
      return null;
    end $$`.execute(db);
  await sql`create trigger items_autotag after insert or update of title, body, lat, lng on items for each row execute function rter_items_autotag()`.execute(
    db,
  );

  // Every stream is an item from its first moment, with the tags it was created with.
  await sql`
    create function rter_stream_item() returns trigger language plpgsql as $$
    declare
      v_item uuid;
      v_tag text;
      v_tag_id uuid;
    begin
      insert into items (kind, stream_id, author_id, title, lat, lng, heading, created_at)
      values ('stream', new.id, new.owner_id, new.title, new.lat, new.lng, new.heading, new.created_at)
      returning id into v_item;
      foreach v_tag in array new.tags loop
        insert into tags (name, created_by) values (v_tag, new.owner_id) on conflict (name) do nothing;
        select id into v_tag_id from tags where name = v_tag;
        insert into item_tags (item_id, tag_id, rank, added_by)
        values (v_item, v_tag_id, coalesce((select max(rank) from item_tags where tag_id = v_tag_id), 0) + 1, new.owner_id)
        on conflict do nothing;
      end loop;
      return null;
    end $$`.execute(db);
  await sql`create trigger streams_item after insert on streams for each row execute function rter_stream_item()`.execute(db);

  // A stream's item is where its reporter is now: the newest telemetry sample.
  await sql`
    create function rter_stream_position() returns trigger language plpgsql as $$
    begin
      update items set lat = new.lat, lng = new.lng, heading = coalesce(new.heading, heading), position_at = new.t
      where stream_id = new.stream_id and (position_at is null or position_at < new.t);
      return null;
    end $$`.execute(db);
  await sql`create trigger telemetry_position after insert on telemetry for each row execute function rter_stream_position()`.execute(db);

  // Streams that existed before this migration become items too.
  await sql`
    insert into items (kind, stream_id, author_id, title, lat, lng, heading, created_at)
    select 'stream', id, owner_id, title, lat, lng, heading, created_at from streams`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists telemetry_position on telemetry`.execute(db);
  await sql`drop trigger if exists streams_item on streams`.execute(db);
  for (const t of ["guidance", "tag_rules", "item_tags", "tags", "items"]) await db.schema.dropTable(t).execute();
  await sql`drop function if exists rter_stream_position(), rter_stream_item(), rter_items_autotag(), rter_autotag(uuid, float8, float8, text)`.execute(db);
}
