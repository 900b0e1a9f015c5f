import { sql, type Kysely } from "kysely";

// A queue probe is a tiny job whose completion proves the whole path API -> Postgres queue ->
// worker -> Postgres works; the status page reports its round trip and which worker ran it.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("queue_probes")
    .addColumn("id", "uuid", (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("enqueued_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("ran_at", "timestamptz")
    .addColumn("run_count", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("worker_id", "text")
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("queue_probes").execute();
}
