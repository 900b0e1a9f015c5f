import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";

// The README's test command (scripts/test.sh) runs `bun test` over a fixed list of directories;
// a *.test.ts anywhere else (web/ once was at risk, or a new top-level folder) would never run.
const ROOT = join(import.meta.dir, "..", "..");
const SKIP = new Set([".git", "node_modules", "dist", ".rter", "artifacts"]);

function testFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) testFiles(p, out);
    else if (e.name.endsWith(".test.ts")) out.push(relative(ROOT, p).split(sep).join("/"));
  }
  return out;
}

test("scripts/test.sh runs every *.test.ts of the repository, web/ included", () => {
  const script = readFileSync(join(ROOT, "scripts", "test.sh"), "utf8");
  const m = /^for d in ([\w ./-]+); do/m.exec(script);
  expect(m).not.toBeNull();
  const dirs = m![1]!.trim().split(/\s+/);
  expect(dirs).toContain("web");
  const files = testFiles(ROOT);
  expect(files.some((f) => f.startsWith("web/"))).toBe(true);
  const outside = files.filter((f) => !dirs.some((d) => f.startsWith(`${d}/`)));
  expect(outside).toEqual([]);
});
