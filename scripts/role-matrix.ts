// Prints the role matrix (core/auth/access-matrix.ts) as the README's Markdown table, or with
// --write puts it between the README's role-matrix markers (test/integration/security-matrix.test.ts
// fails when they differ).
import { readFileSync, writeFileSync } from "node:fs";
import { matrixMarkdown } from "../core/auth/access-matrix.ts";

const table = matrixMarkdown();
if (!process.argv.includes("--write")) {
  console.log(table);
} else {
  const readme = readFileSync("README.md", "utf8");
  const re = /(<!-- role-matrix:start -->\n)[\s\S]*?(<!-- role-matrix:end -->)/;
  if (!re.test(readme)) throw new Error("README.md has no role-matrix markers");
  writeFileSync("README.md", readme.replace(re, (_, a: string, b: string) => `${a}${table}\n${b}`));
  console.log("README.md role matrix updated");
}
