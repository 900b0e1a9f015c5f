import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

// docs/architecture.md is the newcomer's map: every top-level folder, every core/ folder and every
// web/*.html page has its line there. A folder or page added without one fails here.
const ROOT = join(import.meta.dir, "..", "..");
const doc = readFileSync(join(ROOT, "docs", "architecture.md"), "utf8");

/** Top-level directory names .gitignore leaves out ("node_modules/", "dist/"), plus .git. */
function ignoredDirs(): Set<string> {
  const lines = readFileSync(join(ROOT, ".gitignore"), "utf8")
    .split("\n")
    .map((l) => l.trim());
  return new Set([".git", ...lines.filter((l) => /^[^#*!][^*]*\/$/.test(l)).map((l) => l.replace(/^\//, "").replace(/\/$/, ""))]);
}

function dirs(path: string): string[] {
  return readdirSync(join(ROOT, path), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
}

function missing(names: string[]): string[] {
  return names.filter((n) => !doc.includes(`\`${n}\``));
}

test("docs/architecture.md names every top-level folder", () => {
  const ignored = ignoredDirs();
  const top = dirs(".")
    .filter((d) => !ignored.has(d))
    .map((d) => `${d}/`);
  expect(top).toContain("core/");
  expect(missing(top)).toEqual([]);
});

test("docs/architecture.md names every core/ folder", () => {
  const core = dirs("core").map((d) => `core/${d}/`);
  expect(core.length).toBeGreaterThan(5);
  expect(missing(core)).toEqual([]);
});

test("docs/architecture.md names every web/*.html page", () => {
  const pages = readdirSync(join(ROOT, "web"))
    .filter((f) => f.endsWith(".html"))
    .map((f) => `web/${f}`);
  expect(pages).toContain("web/index.html");
  expect(missing(pages)).toEqual([]);
});
