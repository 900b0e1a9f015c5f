import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

// The README is a map of the docs: every docs/*.md has its line there, so a newcomer finds it.
const ROOT = join(import.meta.dir, "..", "..");

test("README.md links every docs/*.md", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const docs = readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md"));
  expect(docs).toContain("configuration.md");
  expect(docs.filter((f) => !readme.includes(`](docs/${f})`))).toEqual([]);
});
