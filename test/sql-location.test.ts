import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { ROOT } from "./support/rter-process.ts";

// Every SQL statement lives in a repository (*.repository.ts, `db` first, no rules) or in the
// database layer itself (core/db: connection, migrations, roles). Services and workers call
// named repository functions; a transaction boundary (db.transaction()) stays theirs, since
// deciding what commits together is a rule. Tests set up their own rows and are not scanned.

const SCANNED = ["app", "core", "cmd", "workers", "web"];
/** Where SQL may be written: as short as possible. */
const ALLOWED = [/\.repository\.ts$/, /^core\/db\//];

/** Kysely's query builder entry points and its `sql` template tag (sql`…`, sql<T>`…`, sql.raw(…) and kin). */
const SQL = [
  /\.(selectFrom|insertInto|updateTable|deleteFrom|selectNoFrom|mergeInto|replaceInto)\s*\(/g,
  // The type argument may hold `;` and span lines (sql<{ a: string; b: number }>`…`).
  /\bsql\s*(<[^`]*?>)?\s*`/g,
  /\bsql\.(raw|ref|id|lit|join|table|val)\s*\(/g,
];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|tsx|js|mjs)$/.test(e.name) && !/\.test\.tsx?$/.test(e.name)) out.push(p);
  }
  return out;
}

/** Blanks comments (keeping line breaks), so a comment naming `sql` or `.selectFrom(` is not a finding. */
function withoutComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " ")).replace(/(^|[^:"'`\\])\/\/[^\n]*/g, (_, pre: string) => pre);
}

/** file:line: code, for every SQL use outside the allowed places. */
function sqlOutsideRepositories(root: string): string[] {
  const found: string[] = [];
  for (const top of SCANNED) {
    let files: string[];
    try {
      files = sourceFiles(join(root, top));
    } catch {
      continue;
    }
    for (const file of files) {
      const rel = relative(root, file).split(sep).join("/");
      if (ALLOWED.some((a) => a.test(rel))) continue;
      const code = withoutComments(readFileSync(file, "utf8"));
      const lines = code.split("\n");
      const hits = new Set<number>();
      for (const re of SQL) for (const m of code.matchAll(re)) hits.add(code.slice(0, m.index).split("\n").length);
      for (const n of [...hits].sort((a, b) => a - b)) found.push(`${rel}:${n}: ${lines[n - 1]!.trim().slice(0, 120)}`);
    }
  }
  return found;
}

test("SQL is written only in repositories and core/db", () => {
  expect(sqlOutsideRepositories(ROOT)).toEqual([]);
});

test("the scan finds each form of SQL and reports file:line, and skips comments", () => {
  const root = mkdtempSync(join(tmpdir(), "rter-sql-scan-"));
  mkdirSync(join(root, "core/things"), { recursive: true });
  mkdirSync(join(root, "core/db"), { recursive: true });
  writeFileSync(
    join(root, "core/things/things.service.ts"),
    [
      '// db.selectFrom("x") in a comment is fine',
      'const a = db.selectFrom("things");',
      "/* sql`x` */ const b = 1;",
      "await sql<{ n: number; m: string }>`select 1`.execute(db);",
      'await trx\n  .updateTable("things")',
      'const c = sql.raw("now()");',
      "const d = sql<{\n  n: number;\n}>`select 2`;",
      "await db.transaction().execute(async (trx) => repo.save(trx));",
    ].join("\n"),
  );
  writeFileSync(join(root, "core/things/things.repository.ts"), 'export const f = (db) => db.deleteFrom("things");');
  writeFileSync(join(root, "core/db/roles.ts"), "await sql`grant select on x to y`.execute(db);");
  expect(sqlOutsideRepositories(root)).toEqual([
    'core/things/things.service.ts:2: const a = db.selectFrom("things");',
    "core/things/things.service.ts:4: await sql<{ n: number; m: string }>`select 1`.execute(db);",
    'core/things/things.service.ts:6: .updateTable("things")',
    'core/things/things.service.ts:7: const c = sql.raw("now()");',
    "core/things/things.service.ts:8: const d = sql<{",
  ]);
});
