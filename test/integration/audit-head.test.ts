import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { headLine, shipHead } from "../../core/audit/audit-head.service.ts";
import { buildConfig } from "../../core/config/load.ts";
import { openDatabase, type Database } from "../../core/db/kysely.ts";
import { createLogger } from "../../core/log.ts";
import { enqueue } from "../../core/queue/enqueue.ts";
import { until } from "../support/admin.ts";
import { startTestApp } from "../support/app.ts";
import { startMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { runCli } from "../support/rter-process.ts";

// The head shipped off-host is what makes cutting the newest entries (as the table's owner, guard
// trigger off, every later hash recomputable) detectable: the chain that is left still verifies.

setDefaultTimeout(120_000);

const dir = mkdtempSync(join(tmpdir(), "rter-audit-head-"));
const ENV = { RTER_PORT: undefined, RTER_ROLES: undefined, RTER_LOG_LEVEL: "error" };

interface Db {
  url: string;
  database: Database;
}
const opened: Database[] = [];

/** A migrated database (by `rter migrate`, as on an appliance) with `n` chained audit entries. */
async function chainedDb(n: number): Promise<Db> {
  const url = await testDatabaseUrl();
  expect((await runCli(["migrate"], { ...ENV, DATABASE_URL: url })).code).toBe(0);
  const database = openDatabase(
    { url, poolMax: 2, statementTimeoutMs: 30_000, connectTimeoutMs: 10_000, applicationName: "audit-head-test" },
    createLogger("error"),
  );
  opened.push(database);
  for (let i = 0; i < n; i++) await sql`insert into audit_log (action, detail) values (${`test.${i}`}, ${JSON.stringify({ i })}::jsonb)`.execute(database.db);
  return { url, database };
}

/** As the table's owner, behind the append-only guard's back. */
async function asOwner(d: Db, statement: ReturnType<typeof sql>) {
  await sql`alter table audit_log disable trigger audit_log_no_change`.execute(d.database.db);
  try {
    await statement.execute(d.database.db);
  } finally {
    await sql`alter table audit_log enable trigger audit_log_no_change`.execute(d.database.db);
  }
}

const verify = (d: Db, ...args: string[]) => runCli(["audit", "verify", ...args], { ...ENV, DATABASE_URL: d.url });
const headOf = (line: string) => /head=(\d+:[0-9a-f]{64})$/.exec(line)![1]!;
const maxSeq = async (d: Db) => Number((await sql<{ n: string }>`select max(seq)::text as n from audit_log`.execute(d.database.db)).rows[0]!.n);

afterAll(async () => {
  for (const d of opened) await d.close();
});

describe("shipping the head", () => {
  test("one RFC 5424 line per run, in the log and appended (not overwritten) to --audit-head-file", async () => {
    const d = await chainedDb(4);
    const logged: string[] = [];
    const log = createLogger("info", {}, (l) => (logged.push(l), true));
    const file = join(dir, "heads.log");
    const first = (await shipHead({ db: d.database.db, log }, file, new Date("2026-11-28T05:00:00Z")))!;
    await sql`insert into audit_log (action) values ('test.more')`.execute(d.database.db);
    const second = (await shipHead({ db: d.database.db, log }, file))!;

    const seq = await maxSeq(d);
    const { hash, at } = (await sql<{ hash: Buffer; at: Date }>`select hash, at from audit_log where seq = ${seq}`.execute(d.database.db)).rows[0]!;
    expect(second).toBe(headLine({ seq, hash: hash.toString("hex"), at }, new Date(/^<110>1 (\S+)/.exec(second)![1]!)));
    expect(second).toMatch(
      new RegExp(`^<110>1 \\S+Z \\S+ rter - audit-head - seq=${seq} hash=${hash.toString("hex")} entry_at=\\S+Z head=${seq}:${hash.toString("hex")}$`),
    );
    expect(first).toStartWith("<110>1 2026-11-28T05:00:00.000Z ");
    expect(first).toContain(` seq=${seq - 1} `);
    expect(readFileSync(file, "utf8")).toBe(`${first}\n${second}\n`);
    expect(logged.filter((l) => l.includes("audit head")).map((l) => JSON.parse(l).line)).toEqual([first, second]);
  });

  test("an empty audit log ships nothing and writes no file", async () => {
    const url = await testDatabaseUrl();
    expect((await runCli(["migrate"], { ...ENV, DATABASE_URL: url })).code).toBe(0);
    const database = openDatabase(
      { url, poolMax: 1, statementTimeoutMs: 30_000, connectTimeoutMs: 10_000, applicationName: "audit-head-test" },
      createLogger("error"),
    );
    opened.push(database);
    const n = Number((await sql<{ n: string }>`select count(*)::text as n from audit_log`.execute(database.db)).rows[0]!.n);
    expect(n).toBe(0);
    const file = join(dir, "never.log");
    expect(await shipHead({ db: database.db, log: createLogger("error") }, file)).toBeNull();
    expect(() => readFileSync(file)).toThrow(/ENOENT/);
  });

  test("the schedule and file are settings: default every 5 minutes, off, and a bad cron refused", () => {
    expect(buildConfig({}, {}).audit).toEqual({ headSchedule: "*/5 * * * *", headFile: null });
    expect(buildConfig({ "audit-head-schedule": "off", "audit-head-file": "heads.log" }, {}, {}, "/var/lib/rter").audit).toEqual({
      headSchedule: null,
      headFile: "/var/lib/rter/heads.log",
    });
    expect(() => buildConfig({ "audit-head-schedule": "every five" }, {})).toThrow(/^--audit-head-schedule:/);
  });
});

describe("rter audit verify --head", () => {
  let d: Db;
  let shipped: string;
  beforeAll(async () => {
    d = await chainedDb(8);
    shipped = headOf((await shipHead({ db: d.database.db, log: createLogger("error") }, null))!);
  });

  test("unchanged, and with entries added after the head: passes, as SEQ:HASH and as HASH", async () => {
    for (const h of [shipped, shipped.split(":")[1]!]) {
      const r = await verify(d, "--head", h);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`the shipped head is seq ${shipped.split(":")[0]}`);
    }
    await sql`insert into audit_log (action) values ('test.after-ship')`.execute(d.database.db);
    expect((await verify(d, "--head", shipped)).code).toBe(0);
  });

  test("the newest entries deleted by the owner: the chain left still verifies alone, but not against the shipped head", async () => {
    const headSeq = Number(shipped.split(":")[0]);
    await asOwner(d, sql`delete from audit_log where seq >= ${headSeq - 2}`);
    expect((await verify(d)).code).toBe(0); // why the head has to live elsewhere
    const r = await verify(d, "--head", shipped);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(
        new RegExp(`^rter: audit chain broken at seq ${headSeq}: entry seq ${headSeq} \\(the shipped head\\) is missing: the chain ends at seq ${headSeq - 3}`),
      ),
    ]);
    const byHash = await verify(d, "--head", shipped.split(":")[1]!);
    expect(byHash.code).toBe(1);
    expect(byHash.stderr).toMatch(new RegExp(`^rter: audit chain broken at seq ${headSeq - 3}: no entry has the shipped head hash`));
  });

  test("the tail cut and re-forged with fresh hashes (same seq numbers): fails naming the head's seq", async () => {
    const e = await chainedDb(6);
    const head = headOf((await shipHead({ db: e.database.db, log: createLogger("error") }, null))!);
    const seq = Number(head.split(":")[0]);
    // Remove the last two, then let the chain trigger write two different entries in their place.
    await asOwner(e, sql`delete from audit_log where seq >= ${seq - 1}`);
    await sql`insert into audit_log (action) values ('forged.1'), ('forged.2')`.execute(e.database.db);
    expect(await maxSeq(e)).toBe(seq);
    expect((await verify(e)).code).toBe(0);
    const r = await verify(e, "--head", head);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^rter: audit chain broken at seq ${seq}: entry seq ${seq} has hash [0-9a-f]{64}, not the shipped`));
  });

  test("an entry before the head changed in place: fails naming that entry's seq", async () => {
    const e = await chainedDb(6);
    const head = headOf((await shipHead({ db: e.database.db, log: createLogger("error") }, null))!);
    await asOwner(e, sql`update audit_log set detail = '{"i": 99}'::jsonb where seq = 3`);
    const r = await verify(e, "--head", head);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^rter: audit chain broken at seq 3: entry seq 3 does not match the chain/);
  });

  const HOSTILE: [string, string][] = [
    ["empty", ""],
    ["short hex", "ab".repeat(31)],
    ["long hex", "ab".repeat(33)],
    ["not hex", "zz".repeat(32)],
    ["seq zero", `0:${"a".repeat(64)}`],
    ["negative seq", `-1:${"a".repeat(64)}`],
    ["huge seq", `${"9".repeat(40)}:${"a".repeat(64)}`],
    ["sql", `'; drop table audit_log; --`],
    ["newline", `${"a".repeat(64)}\nrm -rf /`],
    ["unicode", "ａ".repeat(64)],
    ["whole syslog line", `<110>1 2026-11-28T05:00:00.000Z host rter - audit-head - seq=1 hash=${"a".repeat(64)}`],
    ["very long", "a".repeat(100_000)],
  ];
  for (const [name, value] of HOSTILE) {
    test(`hostile --head (${name}): one line, exit 2, nothing touched`, async () => {
      const before = await maxSeq(d);
      const r = await verify(d, `--head=${value}`);
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^rter: --head (must be the 64-hex-digit hash|sequence numbers start at 1)/);
      expect(lines[0]!.length).toBeLessThan(300);
      expect(await maxSeq(d)).toBe(before);
    });
  }

  test("usage: no subcommand or an unknown one is a one-line error", async () => {
    for (const args of [[], ["check"], ["verify", "extra"]]) {
      const r = await runCli(["audit", ...args], { ...ENV, DATABASE_URL: d.url });
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
  });
});

describe("the worker ships it", () => {
  test("a worker registers the schedule and its audit_head job appends the head line to --audit-head-file", async () => {
    const minio = await startMinio();
    const file = join(dir, "worker-heads.log");
    const app = await startTestApp({
      "database-url": await testDatabaseUrl(),
      "storage-url": minio.url,
      roles: "worker",
      "audit-head-file": file,
      "audit-head-schedule": "*/5 * * * *",
    });
    try {
      const db = app.rt.database.db;
      await sql`insert into audit_log (action) values ('test.worker')`.execute(db);
      const crontabs = await sql<{ identifier: string }>`select identifier from graphile_worker._private_known_crontabs`.execute(db);
      expect(crontabs.rows.map((r) => r.identifier)).toContain("rter_audit_head");
      await enqueue(db, "audit_head", {});
      const text = await until("the head line in the file", async () => {
        try {
          return readFileSync(file, "utf8");
        } catch {
          return null;
        }
      });
      const { seq, hash } = (await sql<{ seq: string; hash: Buffer }>`select seq::text, hash from audit_log order by seq desc limit 1`.execute(db)).rows[0]!;
      expect(text).toMatch(
        new RegExp(`^<110>1 \\S+ \\S+ rter - audit-head - seq=${seq} hash=${hash.toString("hex")} entry_at=\\S+ head=${seq}:${hash.toString("hex")}\n$`),
      );
    } finally {
      await app.stop();
      await minio.stop();
    }
  });
});
