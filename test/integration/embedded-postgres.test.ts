import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import pg from "pg";
import { findPostgresBinDir, type EmbeddedPostgres } from "../../core/db/embedded-postgres.ts";
import { startDisposablePostgres, testDatabaseUrl } from "../support/postgres.ts";

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on("error", () => {});
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe("findPostgresBinDir", () => {
  test("an explicit directory without the tools gives null, not a fallback", () => {
    expect(findPostgresBinDir("/nonexistent/rter/bin")).toBeNull();
  });

  test("finds binaries on this machine (npm package or Debian)", () => {
    const dir = findPostgresBinDir();
    expect(dir).not.toBeNull();
    expect(findPostgresBinDir(dir!)).toBe(dir);
  });
});

describe("embedded postgres cluster", () => {
  let pgc: EmbeddedPostgres;
  beforeAll(async () => {
    pgc = await startDisposablePostgres();
  });
  afterAll(async () => {
    await pgc?.stop();
  });

  test("accepts connections and runs queries", async () => {
    expect(pgc.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    const rows = await query<{ n: number }>(pgc.url, "select 1 + 1 as n");
    expect(rows[0]!.n).toBe(2);
  });

  test("stop refuses connections; start again keeps the data", async () => {
    await query(pgc.url, "create table survivor (id int primary key); insert into survivor values (42)");
    await pgc.stop();
    await expect(query(pgc.url, "select 1")).rejects.toThrow();
    await pgc.start();
    const rows = await query<{ id: number }>(pgc.url, "select id from survivor");
    expect(rows).toEqual([{ id: 42 }]);
  });

  test("kill is an immediate shutdown that recovers on start", async () => {
    await query(pgc.url, "insert into survivor values (43)");
    await pgc.kill();
    await expect(query(pgc.url, "select 1")).rejects.toThrow();
    await pgc.start();
    const rows = await query<{ n: string }>(pgc.url, "select count(*) as n from survivor");
    expect(rows[0]!.n).toBe("2");
  });

  test("start is a no-op while running", async () => {
    await pgc.start();
    expect((await query<{ one: number }>(pgc.url, "select 1 as one"))[0]!.one).toBe(1);
  });
});

describe("testDatabaseUrl", () => {
  test("gives a fresh, empty database each call", async () => {
    const a = await testDatabaseUrl();
    const b = await testDatabaseUrl();
    expect(a).not.toBe(b);
    expect(new URL(a).pathname).toMatch(/^\/rter_test_[a-z0-9]+$/);
    const tables = await query<{ n: string }>(a, "select count(*) as n from pg_tables where schemaname = 'public'");
    expect(tables[0]!.n).toBe("0");
  });
});
