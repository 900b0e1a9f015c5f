import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { SETTINGS } from "../../core/config/settings.ts";
import { CONFIG_DOC_PATH, renderConfigDoc } from "../../scripts/config-doc.ts";

// docs/configuration.md is generated from the settings table; a setting added, removed or
// reworded without regenerating it fails here.
test("docs/configuration.md is what scripts/config-doc.ts renders from the settings table", () => {
  const onDisk = readFileSync(CONFIG_DOC_PATH, "utf8");
  const rendered = renderConfigDoc();
  if (onDisk !== rendered) {
    const a = onDisk.split("\n");
    const b = rendered.split("\n");
    const i = b.findIndex((line, n) => line !== a[n]);
    throw new Error(
      `docs/configuration.md is out of date with core/config/settings.ts: run \`bun scripts/config-doc.ts\` and commit it.\n` +
        `first difference at line ${i + 1}:\n  file:     ${a[i] ?? "(end of file)"}\n  rendered: ${b[i] ?? "(end of file)"}`,
    );
  }
});

test("every setting, with its environment variable and roles, is a row of the reference", () => {
  const doc = renderConfigDoc();
  for (const s of SETTINGS) {
    expect(s.roles.length).toBeGreaterThan(0);
    expect(doc).toContain(`| \`--${s.flag}\` | \`${s.env}\` |`);
  }
  expect(doc).toContain("| `--config` | `RTER_CONFIG` |");
});

test("a pipe in a setting's text does not break the table", () => {
  const doc = renderConfigDoc([{ flag: "x", env: "RTER_X", roles: ["api"], default: "a|b", doc: "one | two" }]);
  expect(doc).toContain("| `--x` | `RTER_X` | `a\\|b` | api | one \\| two |");
});
