import { afterAll, expect, test } from "bun:test";
import { sql } from "kysely";
import { Migrator } from "kysely/migration";
import { openDatabase, type Database } from "../../core/db/kysely.ts";
import { migrationProvider } from "../../core/db/migrations/index.ts";
import { createLogger } from "../../core/log.ts";
import { testDatabaseUrl } from "../support/postgres.ts";

// An appliance upgraded from before the hash chain: its existing audit entries join the chain in
// id order, new ones extend it, and the migration can be undone and redone to the same head.

let database: Database | undefined;
afterAll(async () => {
  await database?.close();
});

test("entries written before migration 0009 are chained on upgrade; down and up give the same head", async () => {
  database = openDatabase(
    { url: await testDatabaseUrl(), poolMax: 2, statementTimeoutMs: 30_000, connectTimeoutMs: 10_000, applicationName: "audit-chain-test" },
    createLogger("error"),
  );
  const db = database.db;
  const migrator = new Migrator({ db, provider: migrationProvider });
  expect((await migrator.migrateTo("2026_11_23_0008_item_holds_workspace_retention")).error).toBeUndefined();
  for (let i = 0; i < 5; i++)
    await sql`insert into audit_log (action, detail) values (${`before.${i}`}, ${JSON.stringify({ i, text: "ünïcode ✓" })}::jsonb)`.execute(db);

  expect((await migrator.migrateToLatest()).error).toBeUndefined();
  await sql`insert into audit_log (action) values ('after.upgrade')`.execute(db);
  const verify = async () =>
    (await sql<{ entries: string; first_bad_seq: string | null; head_hash: Buffer }>`select * from rter_audit_verify()`.execute(db)).rows[0]!;
  const first = await verify();
  expect(first.entries).toBe("6");
  expect(first.first_bad_seq).toBeNull();
  const order = await sql<{ action: string; seq: string }>`select action, seq::text from audit_log order by seq`.execute(db);
  expect(order.rows.map((r) => r.action)).toEqual(["before.0", "before.1", "before.2", "before.3", "before.4", "after.upgrade"]);

  expect((await migrator.migrateDown()).error).toBeUndefined();
  expect((await migrator.migrateToLatest()).error).toBeUndefined();
  const again = await verify();
  expect(again.first_bad_seq).toBeNull();
  expect(Buffer.from(again.head_hash).toString("hex")).toBe(Buffer.from(first.head_hash).toString("hex"));
});
