// Prints the role matrix (core/auth/access-matrix.ts) as a Markdown table, or with --write puts it
// between the role-matrix markers of docs/security.md (test/integration/security-matrix.test.ts
// fails when they differ).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { matrixMarkdown } from "../core/auth/access-matrix.ts";

const DOC = join(import.meta.dir, "..", "docs", "security.md");
const table = matrixMarkdown();
if (!process.argv.includes("--write")) {
  console.log(table);
} else {
  const doc = readFileSync(DOC, "utf8");
  const re = /(<!-- role-matrix:start -->\n)[\s\S]*?(<!-- role-matrix:end -->)/;
  if (!re.test(doc)) throw new Error("docs/security.md has no role-matrix markers");
  writeFileSync(
    DOC,
    doc.replace(re, (_, a: string, b: string) => `${a}${table}\n${b}`),
  );
  console.log("docs/security.md role matrix updated");
}
