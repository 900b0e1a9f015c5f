import { sql, type Kysely } from "kysely";

// Frozen in time: Kysely<any>, no application imports.
// Legal holds reach every item (text reports, photos, links, not only streams), and workspaces
// (tags) carry their own retention.
export async function up(db: Kysely<any>): Promise<void> {
  // The guard function was made with the holds (0006); items did not exist yet.
  await sql`create trigger items_legal_hold before delete on items for each row execute function rter_refuse_held_item_delete()`.execute(db);
  await sql`create trigger items_legal_hold_truncate before truncate on items for each statement execute function rter_refuse_held_truncate()`.execute(db);

  // Retention of a workspace's items; no row = the --retention default. keep_days null = keep
  // forever. An item in several workspaces is kept as long as the longest of them asks.
  await db.schema
    .createTable("workspace_retention")
    .addColumn("tag_id", "uuid", (c) => c.primaryKey().references("tags.id").onDelete("cascade"))
    .addColumn("keep_days", "integer", (c) => c.check(sql`keep_days > 0`))
    .addColumn("set_by", "uuid")
    .addColumn("set_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("workspace_retention").execute();
  await sql`drop trigger if exists items_legal_hold_truncate on items`.execute(db);
  await sql`drop trigger if exists items_legal_hold on items`.execute(db);
}
