import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, sep } from "node:path";
import { literalMask, wideLines } from "./support/line-width.ts";

// One formatter and linter for the tree: Biome, configured in biome.jsonc (docs/code-style.md).
// The fix for a failure here: `bunx biome check --write` (formats and applies safe fixes); what
// it leaves needs a code change, or a rule's reason in biome.jsonc.
const ROOT = join(import.meta.dir, "..");
const FIX = "bunx biome check --write";

interface BiomeConfig {
  files: { includes: string[] };
  formatter: { lineWidth: number };
}
const config = Bun.JSONC.parse(readFileSync(join(ROOT, "biome.jsonc"), "utf8")) as BiomeConfig;
const WIDTH = config.formatter.lineWidth;

interface Diagnostic {
  severity: string;
  message: string;
  category?: string;
  location?: { path?: string; start?: { line: number; column: number } };
}

test("biome ci: every file is formatted and passes the linter (warnings count)", () => {
  const run = Bun.spawnSync(
    [process.execPath, "x", "biome", "ci", "--error-on-warnings", "--colors=off", "--reporter=json", "--max-diagnostics=none", "--threads=2"],
    { cwd: ROOT, stdout: "pipe", stderr: "pipe" },
  );
  const out = run.stdout.toString();
  const start = out.indexOf("{");
  const report = JSON.parse(start < 0 ? "{}" : out.slice(start)) as { summary?: { unchanged: number; changed: number }; diagnostics?: Diagnostic[] };
  const found = (report.diagnostics ?? [])
    .filter((d) => d.severity === "error" || d.severity === "warning" || d.severity === "fatal")
    .map((d) => {
      const at = d.location?.start && d.location.start.line > 0 ? `:${d.location.start.line}:${d.location.start.column}` : "";
      return `${d.location?.path ?? "?"}${at}: ${d.category ?? d.severity}: ${d.message}`;
    });
  const problems =
    found.length || run.exitCode !== 0
      ? `${found.join("\n")}\n(biome ci exited ${run.exitCode}${found.length ? "" : `: ${run.stderr.toString().trim().slice(0, 2000)}`})\nFix: ${FIX} — formats and applies safe fixes; what remains needs a code change.`
      : "";
  expect(problems).toBe("");
  // A run that saw no file would pass for the wrong reason.
  expect((report.summary?.unchanged ?? 0) + (report.summary?.changed ?? 0)).toBeGreaterThan(300);
}, 120_000);

/** The files Biome formats under the folders biome.jsonc includes, less its exclusions. */
function formattedFiles(): string[] {
  const dirs = config.files.includes.filter((p) => !p.startsWith("!") && p.endsWith("/**")).map((p) => p.slice(0, -3));
  const excluded = config.files.includes.filter((p) => p.startsWith("!")).map((p) => new Bun.Glob(p.slice(1)));
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      if (e.name === "node_modules" || e.name === "dist" || e.name.startsWith(".")) continue;
      const path = `${dir}/${e.name}`;
      if (excluded.some((g) => g.match(path) || g.match(`${path}/x`))) continue;
      if (e.isDirectory()) walk(path);
      else if (/\.(ts|js|mjs|css|json|jsonc)$/.test(e.name)) out.push(path);
    }
  };
  for (const d of dirs) walk(d);
  return out;
}

test(`no line is wider than ${WIDTH} columns, unless only string, template or regex literals make it so`, () => {
  const files = formattedFiles();
  expect(files.length).toBeGreaterThan(300);
  expect(files).not.toContain("core/db/schema.gen.ts");
  const wide: string[] = [];
  for (const f of files) {
    const code = /\.(ts|js|mjs)$/.test(f);
    for (const w of wideLines(readFileSync(join(ROOT, f), "utf8"), WIDTH, code)) {
      wide.push(`${f}:${w.line}: ${w.width} columns (${w.outsideLiterals} outside literals)`);
    }
  }
  // Biome wraps code but never comments: rewrap a long comment by hand. Long code kept by a
  // `biome-ignore format` comment shows here too.
  expect(wide.map((w) => w.split(sep).join("/"))).toEqual([]);
}, 30_000);

describe("the width checker", () => {
  const marked = (src: string) => {
    const m = literalMask(src);
    return src
      .split("")
      .map((c, i) => (m[i] ? c : "_"))
      .join("");
  };

  test("marks strings, templates with their interpolations, and regexes; not comments or code", () => {
    expect(marked(`a("x//y", 'q\\'r') // "c"`)).toBe(`__"x//y"__'q\\'r'________`);
    expect(marked('t = `a ${f("}")} b`; c')).toBe('____`a ${f("}")} b`___');
    expect(marked("x = /[/]\\//g.test(s) / 2")).toBe("____/[/]\\//g____________");
    expect(marked("if (x) y(); `${`${'`'}`}` + z")).toBe("____________`${`${'`'}`}`____");
    expect(marked("return /a/; n = 4 / 2 / 1")).toBe("_______/a/_______________");
    expect(marked("/* 'no' */ s")).toBe("____________");
  });

  test("a line over the width fails unless its literals are the excess", () => {
    const long = "x".repeat(30);
    expect(wideLines(`f("${long}");`, 20)).toEqual([]);
    expect(wideLines(`// ${long}`, 20)).toEqual([{ line: 1, width: 33, outsideLiterals: 33 }]);
    expect(wideLines(`ok\nconst y = ${long};`, 20)).toEqual([{ line: 2, width: 41, outsideLiterals: 41 }]);
    expect(wideLines(`q\`\n${long}\n\`;`, 20)).toEqual([]);
    expect(wideLines(`"${long}"`, 20, false)).toHaveLength(1);
    // Code points, not UTF-16 units: 20 of "…" or "😀" fit in 20 columns.
    expect(wideLines(`${"…".repeat(20)}\n${"😀".repeat(20)}`, 20, false)).toEqual([]);
  });
});
