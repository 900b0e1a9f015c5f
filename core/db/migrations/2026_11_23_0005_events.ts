import { sql, type Kysely } from "kysely";

// Frozen in time: Kysely<any>, no application imports.
// Everything an operator's screen reacts to, in one ordered log: SSE clients resume from an id.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("events")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("stream_id", "uuid")
    // Who may see it when it is not everyone's: a reporter sees only their own streams' events.
    .addColumn("owner_id", "uuid")
    .addColumn("data", "jsonb", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("events_created_idx").on("events").column("created_at").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("events").execute();
}
