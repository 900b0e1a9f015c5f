import { afterAll, describe, expect, test } from "bun:test";
import { openDatabase, type Database } from "./kysely.ts";
import { migrateToLatest, SchemaAheadError } from "./migrate.ts";
import { migrationProvider } from "./migrations/index.ts";
import { createLogger } from "../log.ts";
import { testDatabaseUrl } from "../../test/support/postgres.ts";

// Expand/contract: this binary meets a database a newer release migrated (a row in Kysely's table
// it has no migration for). It runs on it only when the newer release marked that migration
// expand-only; otherwise it refuses and names it. The whole rollback drill is test/deploy.

let database: Database | undefined;
afterAll(async () => {
  await database?.close();
});

describe("migrateToLatest against a schema ahead of this binary", () => {
  test("refuses unknown migrations that are not expand-only, runs on expand-only ones, records its own marks", async () => {
    const url = await testDatabaseUrl();
    database = openDatabase(
      { url, poolMax: 2, statementTimeoutMs: 30_000, connectTimeoutMs: 10_000, applicationName: "migrate-compat-test" },
      createLogger("error"),
    );
    const log = createLogger("error");
    const known = Object.keys(await migrationProvider.getMigrations());
    expect((await migrateToLatest(database, url, log)).sort()).toEqual([...known].sort());
    // Every migration this binary knows is recorded, with its mark (none of today's claim expand-only).
    const marks = await database.pool.query<{ name: string; expand_only: boolean }>("select name, expand_only from rter_meta.migration_compat order by name");
    expect(marks.rows.map((r) => r.name)).toEqual([...known].sort());
    // A second start applies nothing.
    expect(await migrateToLatest(database, url, log)).toEqual([]);

    // A newer release applied two migrations: one that drops something, one that only adds.
    const later = ["2099_01_01_0001_add_column", "2099_01_01_0002_drop_column"];
    for (const n of later) await database.pool.query("insert into kysely_migration (name, timestamp) values ($1, now()::text)", [n]);
    await database.pool.query("insert into rter_meta.migration_compat (name, expand_only) values ($1, true), ($2, false)", later);
    const refused = await migrateToLatest(database, url, log).then(
      () => null,
      (e) => e,
    );
    expect(refused).toBeInstanceOf(SchemaAheadError);
    expect((refused as SchemaAheadError).blocking).toEqual(["2099_01_01_0002_drop_column"]);

    // A migration no binary ever marked (an older release's machinery, or a hand-made row) also blocks.
    await database.pool.query("delete from rter_meta.migration_compat where name = $1", [later[1]]);
    expect(((await migrateToLatest(database, url, log).catch((e: unknown) => e)) as SchemaAheadError).blocking).toEqual([later[1]!]);

    // Once the dropping migration is gone (say the newer release was itself rolled back by hand),
    // the remaining expand-only one is accepted: nothing applied, the binary starts.
    await database.pool.query("delete from kysely_migration where name = $1", [later[1]]);
    expect(await migrateToLatest(database, url, log)).toEqual([]);
    // The newer release's mark is left as it was: this binary does not know that migration.
    const kept = await database.pool.query("select expand_only from rter_meta.migration_compat where name = $1", [later[0]]);
    expect(kept.rows).toEqual([{ expand_only: true }]);
  }, 60_000);
});
