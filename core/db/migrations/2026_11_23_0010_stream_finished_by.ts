import { sql, type Kysely } from "kysely";

// Frozen in time: Kysely<any>, no application imports.
// Who ended a stream: its reporter, or the worker after the reporter fell silent. A stream ended
// for silence takes its reporter's late chunks and goes live again; one the reporter finished
// does not. Streams finished before this migration count as finished by their reporter.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("streams")
    .addColumn("finished_by", "text", (c) => c.check(sql`finished_by in ('reporter', 'idle')`))
    .execute();
  await sql`update streams set finished_by = 'reporter' where state <> 'live'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("streams").dropColumn("finished_by").execute();
}
