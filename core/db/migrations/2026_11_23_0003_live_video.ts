import { sql, type Kysely } from "kysely";

// Frozen in time: Kysely<any>, no application imports.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("streams")
    .addColumn("id", "uuid", (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("owner_id", "uuid", (c) => c.notNull().references("users.id"))
    .addColumn("title", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("state", "text", (c) => c.notNull().defaultTo("live").check(sql`state in ('live','finished','failed')`))
    .addColumn("lat", "float8")
    .addColumn("lng", "float8")
    .addColumn("heading", "float8")
    .addColumn("tags", sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("finished_at", "timestamptz")
    .addColumn("poster_key", "text")
    .addColumn("poster_at", "timestamptz")
    .addColumn("recording_key", "text")
    .addColumn("recording_sha256", "text")
    .addColumn("recording_size", "bigint")
    .addColumn("recording_at", "timestamptz")
    .execute();
  await db.schema.createIndex("streams_state_idx").on("streams").columns(["state", "created_at"]).execute();

  // Creating calls with an Idempotency-Key: the first request's outcome, replayed to retries.
  await db.schema
    .createTable("idempotency_keys")
    .addColumn("user_id", "uuid", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("key", "text", (c) => c.notNull())
    .addColumn("scope", "text", (c) => c.notNull())
    .addColumn("request_hash", "text", (c) => c.notNull())
    .addColumn("state", "text", (c) => c.notNull().check(sql`state in ('in_flight','done')`))
    .addColumn("status", "integer")
    .addColumn("response", "jsonb")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("idempotency_keys_pk", ["user_id", "scope", "key"])
    .execute();

  await db.schema
    .createTable("chunks")
    .addColumn("stream_id", "uuid", (c) => c.notNull().references("streams.id").onDelete("cascade"))
    .addColumn("seq", "integer", (c) => c.notNull().check(sql`seq >= 0`))
    .addColumn("object_key", "text", (c) => c.notNull())
    .addColumn("sha256", "text", (c) => c.notNull())
    .addColumn("size", "bigint", (c) => c.notNull())
    .addColumn("content_type", "text", (c) => c.notNull())
    .addColumn("capture_start", "timestamptz")
    .addColumn("received_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("uploaded_by", "uuid", (c) => c.references("users.id"))
    .addColumn("state", "text", (c) => c.notNull().defaultTo("stored").check(sql`state in ('stored','segmented','failed')`))
    .addColumn("failure_reason", "text")
    .addPrimaryKeyConstraint("chunks_pk", ["stream_id", "seq"])
    .execute();

  await db.schema
    .createTable("segments")
    .addColumn("stream_id", "uuid", (c) => c.notNull().references("streams.id").onDelete("cascade"))
    .addColumn("seq", "integer", (c) => c.notNull())
    .addColumn("object_key", "text", (c) => c.notNull())
    .addColumn("sha256", "text", (c) => c.notNull())
    .addColumn("size", "bigint", (c) => c.notNull())
    .addColumn("duration", "float8", (c) => c.notNull())
    // Where this segment starts on the stream's media timeline (seconds), so the next continues it.
    .addColumn("start_offset", "float8", (c) => c.notNull())
    .addColumn("program_date_time", "timestamptz", (c) => c.notNull())
    .addColumn("discontinuity", "boolean", (c) => c.notNull().defaultTo(false))
    // Made after a later seq was already published past a gap: in the recording, not the live list.
    .addColumn("late", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("remuxed", "boolean", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("segments_pk", ["stream_id", "seq"])
    .execute();

  await db.schema
    .createTable("telemetry")
    .addColumn("stream_id", "uuid", (c) => c.notNull().references("streams.id").onDelete("cascade"))
    .addColumn("t", "timestamptz", (c) => c.notNull())
    .addColumn("lat", "float8", (c) => c.notNull())
    .addColumn("lng", "float8", (c) => c.notNull())
    .addColumn("accuracy", "float8")
    .addColumn("heading", "float8")
    .addColumn("speed", "float8")
    .addPrimaryKeyConstraint("telemetry_pk", ["stream_id", "t"])
    .execute();

  // Fixity: every re-read of a stored object, and what it found.
  await db.schema
    .createTable("fixity_failures")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("object_key", "text", (c) => c.notNull())
    .addColumn("expected_sha256", "text", (c) => c.notNull())
    .addColumn("actual_sha256", "text")
    .addColumn("reason", "text", (c) => c.notNull())
    .addColumn("detected_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("resolved_at", "timestamptz")
    .execute();
  await db.schema
    .createTable("fixity_runs")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("started_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("finished_at", "timestamptz")
    .addColumn("objects_checked", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("mismatches", "integer", (c) => c.notNull().defaultTo(0))
    .execute();

  // Liveness of worker processes: graphile-worker pools they own and when they last spoke.
  await db.schema
    .createTable("worker_heartbeats")
    .addColumn("node_id", "text", (c) => c.primaryKey())
    .addColumn("pool_ids", sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn("jobs", "text", (c) => c.notNull().defaultTo("all"))
    .addColumn("started_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("last_seen", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ["worker_heartbeats", "fixity_runs", "fixity_failures", "telemetry", "segments", "chunks", "idempotency_keys", "streams"]) {
    await db.schema.dropTable(t).execute();
  }
}
