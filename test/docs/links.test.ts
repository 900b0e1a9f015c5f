import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

// Docs move and get split; a relative link in README.md or docs/*.md must still reach its file
// and, with a #fragment, a heading of that file. Links outside the repository (../shared/…)
// and to the web are not checked.
const ROOT = join(import.meta.dir, "..", "..");
const DOCS = [
  "README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function anchors(file: string): Set<string> {
  const text = readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
  return new Set([...text.matchAll(/^#{1,6} +(.+)$/gm)].map((m) => anchor(m[1]!)));
}

test("heading anchors follow GitHub's rule", () => {
  expect(anchor("Jobs: live before batch, dead workers, the trouble queue, fixity")).toBe("jobs-live-before-batch-dead-workers-the-trouble-queue-fixity");
  expect(anchor("The web app's API")).toBe("the-web-apps-api");
  expect(anchor("`core/` folders")).toBe("core-folders");
});

test("every relative link in README.md and docs/ reaches its file and heading", () => {
  const broken: string[] = [];
  for (const doc of DOCS) {
    const text = readFileSync(join(ROOT, doc), "utf8").replace(/```[\s\S]*?```/g, "");
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1]!;
      if (/^[a-z]+:/i.test(link)) continue;
      const [path, fragment] = link.split("#") as [string, string | undefined];
      const target = path ? resolve(dirname(join(ROOT, doc)), path) : join(ROOT, doc);
      if (relative(ROOT, target).startsWith("..")) continue;
      if (!existsSync(target)) broken.push(`${doc}: ${link} (no such file)`);
      else if (fragment && target.endsWith(".md") && !anchors(target).has(fragment)) broken.push(`${doc}: ${link} (no such heading)`);
    }
  }
  expect(broken).toEqual([]);
});
