import { sql, type Kysely } from "kysely";

// Frozen in time: Kysely<any>, no application imports.
// Direction lock (issue 13): one operator at a time guides a reporter. The row names who holds
// the lock of a stream; another operator takes it over explicitly (audited), never silently.
// Expand-only (a new table): a rolled-back binary runs on it, without the lock.
export const expandOnly = true;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("guidance_locks")
    .addColumn("stream_id", "uuid", (c) => c.primaryKey().references("streams.id").onDelete("cascade"))
    .addColumn("holder_id", "uuid", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("taken_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("guidance_locks").execute();
}
