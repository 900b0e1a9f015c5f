import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";

// Every dependency says why it is there: a package added to package.json without its row in
// docs/dependencies.md fails here.
const ROOT = join(import.meta.dir, "..", "..");

test("docs/dependencies.md names every package of package.json", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as Record<string, Record<string, string> | undefined>;
  const doc = readFileSync(join(ROOT, "docs", "dependencies.md"), "utf8");
  const names = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})];
  expect(names.length).toBeGreaterThan(5);
  expect(names.filter((n) => !doc.includes(`\`${n}\``))).toEqual([]);
});
