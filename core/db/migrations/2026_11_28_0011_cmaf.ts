import { sql, type Kysely } from "kysely";

// Frozen in time: Kysely<any>, no application imports.
// CMAF streams (issue 10): the phone packages fragmented MP4 itself; the API node checks each
// fragment's boxes in process and lists it as an LL-HLS part the moment it commits.
// - streams.media_format is fixed by the first upload (init or chunk): mixing is a 409.
// - stream_inits holds the init segment (ftyp+moov), hashed like a chunk, and its track table.
// - A CMAF chunk row carries what the playlist and the continuity check need, so neither ever
//   reads the object: per-track decode span, duration, whether it starts with a key frame.
// - chunks.state 'listed' = a CMAF part, validated and in the live playlist (no segment job).
// - chunks.late: a chunk that arrived after later parts were already published past its gap
//   (in the recording and the finished playlist, not in the live one).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("streams")
    .addColumn("media_format", "text", (c) => c.check(sql`media_format in ('classic', 'cmaf')`))
    .execute();
  await sql`update streams s set media_format = 'classic' where exists (select 1 from chunks c where c.stream_id = s.id)`.execute(db);

  await db.schema
    .createTable("stream_inits")
    .addColumn("stream_id", "uuid", (c) => c.primaryKey().references("streams.id").onDelete("cascade"))
    .addColumn("object_key", "text", (c) => c.notNull())
    .addColumn("sha256", "text", (c) => c.notNull())
    .addColumn("size", "bigint", (c) => c.notNull())
    .addColumn("content_type", "text", (c) => c.notNull())
    // [{ id, kind: "video"|"audio", timescale, codec }]
    .addColumn("tracks", "jsonb", (c) => c.notNull())
    .addColumn("received_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("uploaded_by", "uuid", (c) => c.references("users.id"))
    .execute();

  // { tracks: [{ id, start, end }] } in each track's timescale units (decode time).
  await db.schema.alterTable("chunks").addColumn("media", "jsonb").execute();
  await db.schema.alterTable("chunks").addColumn("duration", "float8").execute();
  await db.schema.alterTable("chunks").addColumn("independent", "boolean").execute();
  await db.schema
    .alterTable("chunks")
    .addColumn("late", "boolean", (c) => c.notNull().defaultTo(false))
    .execute();
  await sql`alter table chunks drop constraint if exists chunks_state_check`.execute(db);
  await sql`alter table chunks add constraint chunks_state_check check (state in ('stored', 'segmented', 'failed', 'listed'))`.execute(db);

  // The init is evidence like a chunk: the fixity walk reads it (source 'init', by its key) and
  // no one deletes it while its stream is under legal hold (the triggers of migration 0006).
  await db.schema.createIndex("stream_inits_object_key_idx").on("stream_inits").column("object_key").execute();
  await sql`alter table fixity_failures drop constraint if exists fixity_failures_source_check`.execute(db);
  await sql`alter table fixity_failures add constraint fixity_failures_source_check check (source in ('chunk', 'segment', 'recording', 'init'))`.execute(db);
  await sql`create trigger stream_inits_legal_hold before delete on stream_inits for each row execute function rter_refuse_held_delete()`.execute(db);
  await sql`create trigger stream_inits_legal_hold_truncate before truncate on stream_inits for each statement execute function rter_refuse_held_truncate()`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`delete from fixity_failures where source = 'init'`.execute(db);
  await sql`alter table fixity_failures drop constraint if exists fixity_failures_source_check`.execute(db);
  await sql`alter table fixity_failures add constraint fixity_failures_source_check check (source in ('chunk', 'segment', 'recording'))`.execute(db);
  await sql`delete from chunks where state = 'listed'`.execute(db);
  await sql`alter table chunks drop constraint if exists chunks_state_check`.execute(db);
  await sql`alter table chunks add constraint chunks_state_check check (state in ('stored', 'segmented', 'failed'))`.execute(db);
  for (const col of ["late", "independent", "duration", "media"]) await db.schema.alterTable("chunks").dropColumn(col).execute();
  await db.schema.dropTable("stream_inits").execute();
  await db.schema.alterTable("streams").dropColumn("media_format").execute();
}
