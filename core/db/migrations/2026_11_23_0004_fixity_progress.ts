import { sql, type Kysely } from "kysely";

// Frozen in time: Kysely<any>, no application imports.
// Fixity runs walk every stored object in key order, one bounded batch per job; the run row keeps
// the cursor so a retried or duplicated batch job resumes instead of counting twice. A failure
// stays one open row per object (re-detections bump it) until a later check finds the bytes right.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("fixity_runs")
    .addColumn("trigger", "text", (c) => c.notNull().defaultTo("manual").check(sql`trigger in ('schedule','manual')`))
    // Last object key whose check is committed; the next batch starts after it.
    .addColumn("cursor", "text")
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("missing", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("bytes_checked", "bigint", (c) => c.notNull().defaultTo(0))
    // null while running; 'superseded' when a new run replaced one that had stopped progressing.
    .addColumn("outcome", "text", (c) => c.check(sql`outcome in ('complete','superseded')`))
    .execute();
  await db.schema.createIndex("fixity_runs_finished_idx").on("fixity_runs").column("finished_at").execute();

  await db.schema
    .alterTable("fixity_failures")
    .addColumn("run_id", "bigint", (c) => c.references("fixity_runs.id"))
    .addColumn("source", "text", (c) => c.check(sql`source in ('chunk','segment','recording')`))
    // No foreign key: the record of a damaged object outlives the stream row.
    .addColumn("stream_id", "uuid")
    .addColumn("last_detected_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("detections", "integer", (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema.alterTable("fixity_failures").addCheckConstraint("fixity_failures_reason_check", sql`reason in ('mismatch','missing')`).execute();
  await db.schema
    .createIndex("fixity_failures_open_key")
    .on("fixity_failures")
    .column("object_key")
    .unique()
    .where(sql.ref("resolved_at"), "is", null)
    .execute();

  // The fixity walk reads all three sources in object_key order.
  await db.schema.createIndex("chunks_object_key_idx").on("chunks").column("object_key").execute();
  await db.schema.createIndex("segments_object_key_idx").on("segments").column("object_key").execute();
  await db.schema.createIndex("streams_recording_key_idx").on("streams").column("recording_key").where(sql.ref("recording_key"), "is not", null).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const i of ["streams_recording_key_idx", "segments_object_key_idx", "chunks_object_key_idx", "fixity_failures_open_key", "fixity_runs_finished_idx"]) {
    await db.schema.dropIndex(i).execute();
  }
  await db.schema.alterTable("fixity_failures").dropConstraint("fixity_failures_reason_check").execute();
  for (const c of ["detections", "last_detected_at", "stream_id", "source", "run_id"]) await db.schema.alterTable("fixity_failures").dropColumn(c).execute();
  for (const c of ["outcome", "bytes_checked", "missing", "updated_at", "cursor", "trigger"]) await db.schema.alterTable("fixity_runs").dropColumn(c).execute();
}
