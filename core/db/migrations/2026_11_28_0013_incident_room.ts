import { sql, type Kysely } from "kysely";

// Frozen in time: Kysely<any>, no application imports.
// The incident room (issue 13):
// - items get a full-text document of their title and body ('simple' configuration: no stemming
//   and no stop words, so it behaves the same for French, English or street names), with a GIN
//   index; comments carry their own, and a search reads both indexes (a UNION of ids).
// - item_comments: operators' and reporters' remarks on an item, append-only from the API.
// - exports: evidence packages, built by the build_export batch job.
// - signing_keys: the appliance's Ed25519 key that signs every package manifest, made once and
//   kept in Postgres like the session secret (auth_secrets), so every worker signs with the same key.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table items add column search tsvector generated always as (to_tsvector('simple'::regconfig, coalesce(title, '') || ' ' || coalesce(body, ''))) stored`.execute(
    db,
  );
  await sql`create index items_search_idx on items using gin (search)`.execute(db);
  // Keyset paging of searches (newest first) and the map-bounds filter.
  await sql`create index items_created_id_idx on items (created_at desc, id desc)`.execute(db);
  await sql`create index items_lat_lng_idx on items (lat, lng) where lat is not null`.execute(db);
  await sql`create index items_author_created_idx on items (author_id, created_at desc)`.execute(db);

  await db.schema
    .createTable("item_comments")
    .addColumn("id", "uuid", (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("item_id", "uuid", (c) => c.notNull().references("items.id").onDelete("cascade"))
    .addColumn("author_id", "uuid", (c) => c.notNull().references("users.id"))
    .addColumn("body", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`alter table item_comments add column search tsvector generated always as (to_tsvector('simple'::regconfig, body)) stored`.execute(db);
  await sql`create index item_comments_item_idx on item_comments (item_id, created_at, id)`.execute(db);
  await sql`create index item_comments_search_idx on item_comments using gin (search)`.execute(db);

  await db.schema
    .createTable("exports")
    .addColumn("id", "uuid", (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("requested_by", "uuid", (c) => c.references("users.id").onDelete("set null"))
    .addColumn("request", "jsonb", (c) => c.notNull())
    .addColumn("selection", "jsonb", (c) => c.notNull())
    .addColumn("state", "text", (c) => c.notNull().defaultTo("queued").check(sql`state in ('queued', 'building', 'ready', 'failed')`))
    .addColumn("progress", "real", (c) => c.notNull().defaultTo(0))
    .addColumn("files", "integer")
    .addColumn("error", "text")
    .addColumn("object_key", "text")
    .addColumn("size", "bigint")
    .addColumn("sha256", "text")
    .addColumn("manifest_sha256", "text")
    .addColumn("audit_head_seq", "bigint")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("finished_at", "timestamptz")
    .execute();
  await sql`create index exports_created_idx on exports (created_at desc)`.execute(db);

  await db.schema
    .createTable("signing_keys")
    .addColumn("id", "integer", (c) => c.primaryKey().check(sql`id = 1`))
    .addColumn("algorithm", "text", (c) => c.notNull().check(sql`algorithm = 'ed25519'`))
    .addColumn("private_key", "bytea", (c) => c.notNull())
    .addColumn("public_key", "bytea", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ["signing_keys", "exports", "item_comments"]) await db.schema.dropTable(t).execute();
  await sql`drop index if exists items_author_created_idx`.execute(db);
  await sql`drop index if exists items_lat_lng_idx`.execute(db);
  await sql`drop index if exists items_created_id_idx`.execute(db);
  await sql`alter table items drop column search`.execute(db);
}
