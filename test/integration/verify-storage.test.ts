import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { sql } from "kysely";
import { startTestApp, type TestApp } from "../support/app.ts";
import { makeChunks } from "../support/media.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { runCli } from "../support/rter-process.ts";

// `rter verify storage`: every stored object read back and hashed against the database, and the
// database's chunk hashes against the audit chain; read-only, one line per problem, exit 1.

setDefaultTimeout(120_000);

let minio: TestMinio;
let app: TestApp;
let dbUrl = "";
const ENV = { RTER_PORT: undefined, RTER_ROLES: undefined, RTER_LOG_LEVEL: "error" };
const verify = (...args: string[]) => runCli(["verify", ...args, "--database-url", dbUrl, "--storage-url", minio.url], ENV);

beforeAll(async () => {
  minio = await startMinio();
  dbUrl = await testDatabaseUrl();
  app = await startTestApp({ "database-url": dbUrl, "storage-url": minio.url, roles: "api" });
});

afterAll(async () => {
  await app?.stop();
  await minio?.stop();
});

describe("rter verify storage", () => {
  let keys: string[] = [];

  test("every object stored through the API matches the database and the audit chain", async () => {
    expect(
      (
        await runCli(
          ["users", "add", "--email", "verify@city.example", "--role", "reporter", "--password", "a long reporter password", "--database-url", dbUrl],
          ENV,
        )
      ).code,
    ).toBe(0);
    const token = (await runCli(["tokens", "create", "--email", "verify@city.example", "--database-url", dbUrl], ENV)).stdout.trim().split("\n").at(-1)!;
    const auth = { authorization: `Bearer ${token}` };
    const created = await fetch(`${app.url}/api/v1/streams`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json", "idempotency-key": crypto.randomUUID() },
      body: JSON.stringify({ title: "verify" }),
    });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    const chunks = await makeChunks("ts-h264-aac", 3, 1, "160x120");
    for (let seq = 0; seq < chunks.length; seq++) {
      const put = await fetch(`${app.url}/api/v1/streams/${id}/chunks/${seq}`, {
        method: "PUT",
        headers: { ...auth, "content-type": "video/mp2t" },
        body: chunks[seq]!,
      });
      expect(put.status).toBe(201);
    }
    keys = (await sql<{ object_key: string }>`select object_key from chunks where stream_id = ${id} order by seq`.execute(app.rt.database.db)).rows.map(
      (r) => r.object_key,
    );
    expect(keys).toHaveLength(3);

    const ok = await verify("storage");
    expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: "" });
    expect(ok.stdout).toMatch(/^storage intact: 3 objects \(\d+ bytes\), 3 chunks and inits in the audit chain$/m);
  });

  test("a missing object, a changed one and a hash the audit chain never saw are each named", async () => {
    const store = app.rt.store;
    await store.delete(keys[0]!);
    await store.put(keys[1]!, new TextEncoder().encode("not the chunk"));
    // The third: object and database row changed together, behind rter's back; only the audit chain knows.
    const forged = await store.put(keys[2]!, new TextEncoder().encode("forged"));
    await sql`update chunks set sha256 = ${forged.sha256} where object_key = ${keys[2]!}`.execute(app.rt.database.db);

    const bad = await verify("storage");
    expect(bad.code).toBe(1);
    const lines = bad.stderr.trim().split("\n");
    expect(lines.find((l) => l.startsWith(`missing chunk ${keys[0]}`))).toBeDefined();
    expect(lines.find((l) => l.startsWith(`mismatch chunk ${keys[1]}`))).toBeDefined();
    expect(lines.find((l) => l.startsWith(`not_in_audit chunk ${keys[2]}`))).toBeDefined();
    expect(lines.at(-1)).toMatch(/^rter: storage damaged: 1 missing, 1 changed, 1 not in the audit chain, of 3 objects/);
  });

  test("usage errors are one line, exit 2", async () => {
    for (const [args, msg] of [
      [[], "verify needs a subcommand"],
      [["stuff"], 'unknown verify subcommand "stuff"'],
      [["storage", "x"], 'takes no arguments, got "x"'],
      [["storage", "--bogus"], "Unknown option '--bogus'"],
    ] as const) {
      const r = await runCli(["verify", ...args], ENV);
      expect({ code: r.code, lines: r.stderr.trim().split("\n").length }).toEqual({ code: 2, lines: 1 });
      expect(r.stderr).toContain(msg);
    }
  });
});
