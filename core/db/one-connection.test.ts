import { describe, expect, test } from "bun:test";
import { Glob } from "bun";
import { join, resolve } from "node:path";

// A transaction holds one pool connection until it ends. Code inside it that queries through the
// pool (the outer `db`, `rt.database`, `deps.db`, the raw pool) waits for a second one while
// holding the first: a burst of such requests takes every connection and they all wait on each
// other until the connect timeout (503s for everyone, and a worker that misses its heartbeats).
// test/integration/pool-starvation.test.ts proves the behaviour; this keeps new code honest.
const ROOT = resolve(import.meta.dir, "../..");
const POOL_USE = /\bdb\s*\(\s*\)|(?<![\w.])db\b(?!\.transaction)|\brt\.database\b|\bdeps\.db\b|\bpool\.(?:query|connect)\b/;

/** The text of each `db.transaction().execute(callback)` callback in a source file. */
export function transactionBodies(src: string): { line: number; body: string }[] {
  const out: { line: number; body: string }[] = [];
  const re = /\.transaction\(\)\s*\.execute\(/g;
  for (let m; (m = re.exec(src)); ) {
    let depth = 1;
    let i = m.index + m[0].length;
    for (; i < src.length && depth > 0; i++) {
      if (src[i] === "(") depth++;
      else if (src[i] === ")") depth--;
    }
    out.push({ line: src.slice(0, m.index).split("\n").length, body: src.slice(m.index + m[0].length, i - 1) });
  }
  return out;
}

describe("no transaction queries through the pool while it holds a connection", () => {
  test("the scanner finds a violation", () => {
    const bad = `await db.transaction().execute(async (trx) => { await trx.selectFrom("x").execute(); await audit(db, e); });`;
    const good = `await db.transaction().execute(async (trx) => { await audit(trx, e); await createSession(trx, user); });`;
    expect(transactionBodies(bad).some((b) => POOL_USE.test(b.body))).toBe(true);
    expect(transactionBodies(good).some((b) => POOL_USE.test(b.body))).toBe(false);
  });

  test("every transaction in app/, core/ and workers/ uses only its own connection", async () => {
    const offenders: string[] = [];
    let seen = 0;
    for (const dir of ["app", "core", "workers"]) {
      for await (const file of new Glob("**/*.ts").scan(join(ROOT, dir))) {
        if (file.endsWith(".test.ts")) continue;
        const src = await Bun.file(join(ROOT, dir, file)).text();
        for (const b of transactionBodies(src)) {
          seen++;
          if (POOL_USE.test(b.body)) offenders.push(`${dir}/${file}:${b.line}`);
        }
      }
    }
    expect(seen).toBeGreaterThan(20);
    expect(offenders).toEqual([]);
  });
});
