// The audit trail's hash chain serializes audit writers (one advisory lock to commit). How much
// does that cost next to plain inserts into the same table, one writer and eight at once? Each
// insert is its own transaction, as an audited request's is.
import { sql } from "kysely";
import { openDatabase } from "../core/db/kysely.ts";
import { migrateToLatest } from "../core/db/migrate.ts";
import { createLogger } from "../core/log.ts";
import { fmt, pct, table, testDatabaseUrl, type Figure } from "./lib.ts";

const INSERTS = 2000;

async function measure(chained: boolean, rows: (string | number)[][], figures: Figure[]): Promise<void> {
  // A fresh database per mode: rows written with the chain off would (rightly) fail verification.
  const url = await testDatabaseUrl();
  const log = createLogger("error");
  const database = openDatabase({ url, poolMax: 16, statementTimeoutMs: 30_000, connectTimeoutMs: 10_000, applicationName: "bench-audit" }, log);
  try {
    await migrateToLatest(database, url, log);
    const db = database.db;
    // Plain = the same table with the chain trigger off: what the insert costs without it.
    if (!chained) await sql`alter table audit_log disable trigger audit_log_chain`.execute(db);
    const label = chained ? "hash chain" : "plain insert";
    for (const writers of [1, 8]) {
      const lat: number[] = [];
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: writers }, async () => {
          for (let i = 0; i < INSERTS / writers; i++) {
            const t = performance.now();
            await db.transaction().execute((trx) => sql`insert into audit_log (action, detail) values ('bench.insert', '{"n": 1}'::jsonb)`.execute(trx));
            lat.push(performance.now() - t);
          }
        }),
      );
      const rate = INSERTS / ((performance.now() - t0) / 1000);
      rows.push([label, writers, fmt(rate, 0), fmt(pct(lat, 50), 2), fmt(pct(lat, 95), 2), fmt(pct(lat, 99), 2)]);
      figures.push({ bench: "audit-chain", what: `${label}, ${writers} writer(s)`, value: fmt(rate, 0), unit: "inserts/s" });
      figures.push({ bench: "audit-chain", what: `${label}, ${writers} writer(s): p95`, value: fmt(pct(lat, 95), 2), unit: "ms" });
    }
    if (chained) {
      const t0 = performance.now();
      const v = (await sql<{ entries: string; first_bad_seq: string | null }>`select entries, first_bad_seq from rter_audit_verify()`.execute(db)).rows[0]!;
      const ms = performance.now() - t0;
      console.log(`verify of ${v.entries} chained entries: ${fmt(ms, 0)} ms (first bad: ${v.first_bad_seq ?? "none"})`);
      figures.push({ bench: "audit-chain", what: `verify ${v.entries} entries`, value: fmt(ms, 0), unit: "ms" });
    }
  } finally {
    await database.close();
  }
}

export async function run(): Promise<Figure[]> {
  const figures: Figure[] = [];
  const rows: (string | number)[][] = [];
  await measure(true, rows, figures);
  await measure(false, rows, figures);
  table(["writes", "writers", "inserts/s", "p50 ms", "p95 ms", "p99 ms"], rows);
  return figures;
}
