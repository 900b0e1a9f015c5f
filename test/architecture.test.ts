import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  formatViolation,
  importsOf,
  moduleState,
  PROCESS_WIDE,
  repositoryImports,
  resolveSpec,
  sourceFiles,
  violations,
  type ImportRef,
} from "./support/layers.ts";
import { ROOT } from "./support/rter-process.ts";

const LAYERS = ["app", "cmd", "core", "workers", "web"];

test("imports point one way: core never imports app/cmd/workers/web, infrastructure no feature, a service no HTTP code", () => {
  const refs = repositoryImports(ROOT, LAYERS);
  // A scan that found nothing would pass for the wrong reason.
  expect(refs.filter((r) => r.from.startsWith("core/")).length).toBeGreaterThan(300);
  expect(violations(refs).map(formatViolation)).toEqual([]);
});

test("a node's state lives on its context: core/ makes no module-level Map or Set but the listed process-wide ones", () => {
  const found: string[] = [];
  for (const f of sourceFiles(ROOT, ["core"]).filter((f) => !f.endsWith(".test.ts"))) {
    for (const { name, line } of moduleState(readFileSync(join(ROOT, f), "utf8"))) if (!PROCESS_WIDE[`${f}:${name}`]) found.push(`${f}:${line}: ${name}`);
  }
  expect(found).toEqual([]);
});

describe("the checker", () => {
  const ref = (from: string, spec: string, line = 1): ImportRef => ({ from, line, spec, to: resolveSpec(from, spec) });

  test("fails on each rule, naming file:line, and passes the allowed directions", () => {
    const refs = [
      ref("core/queue/enqueue.ts", "../../workers/tasks/classes.ts", 4),
      ref("core/http/server.ts", "../../app/modules.ts", 7),
      ref("core/auth/x.ts", "../../cmd/args.ts"),
      ref("core/items/x.ts", "../../web/index.html"),
      ref("core/db/kysely.ts", "../streams/cmaf.model.ts", 3),
      ref("core/media/fmp4.ts", "../auth/role.ts"),
      ref("core/tags/tags.service.ts", "../auth/auth.http.ts", 3),
      ref("core/audit/audit.service.ts", "../http/problem.ts", 9),
      // Allowed:
      ref("app/modules.ts", "../workers/runner.ts"),
      ref("cmd/serve.ts", "../app/http.ts"),
      ref("core/tags/tags.http.ts", "../auth/auth.http.ts"),
      ref("core/tags/tags.service.ts", "../auth/guards.ts"),
      ref("core/streams/cmaf.model.ts", "../media/fmp4.ts"),
      ref("core/db/kysely.ts", "../log.ts"),
      ref("core/storage/s3.ts", "../util/retry.ts"),
      ref("core/config/load.ts", "../db/roles.ts"),
      ref("core/items/items.service.ts", "kysely"),
    ];
    expect(violations(refs).map(formatViolation)).toEqual([
      'core/queue/enqueue.ts:4: core/ imports workers/: "../../workers/tasks/classes.ts"',
      'core/http/server.ts:7: core/ imports app/: "../../app/modules.ts"',
      'core/auth/x.ts:1: core/ imports cmd/: "../../cmd/args.ts"',
      'core/items/x.ts:1: core/ imports web/: "../../web/index.html"',
      'core/db/kysely.ts:3: infrastructure (core/db) imports a feature (core/streams): "../streams/cmaf.model.ts"',
      'core/media/fmp4.ts:1: infrastructure (core/media) imports a feature (core/auth): "../auth/role.ts"',
      'core/tags/tags.service.ts:3: a service imports HTTP code: "../auth/auth.http.ts"',
      'core/audit/audit.service.ts:9: a service imports HTTP code: "../http/problem.ts"',
    ]);
  });

  test("finds module-level Maps and Sets made empty, not constant ones", () => {
    const src = [
      "const cache = new Map<string, number>();",
      'const KNOWN = new Set(["a", "b"]);',
      "export let seen: Set<string> = new Set();",
      "  const local = new Map();",
      "const w = new WeakMap<object, string>();",
    ].join("\n");
    expect(moduleState(src)).toEqual([
      { name: "cache", line: 1 },
      { name: "seen", line: 3 },
      { name: "w", line: 5 },
    ]);
  });

  test("reads every kind of import with its line, and nothing inside strings or comments", () => {
    const src = [
      'import type { A } from "./a.ts";',
      "// import x from './commented.ts'",
      "const s = \"import y from './in-string.ts'\";",
      "const t = `import z from './in-template.ts' ${f(\"}\")}`;",
      'export { b } from "./b.ts";',
      "import {",
      "  c,",
      '} from "./c.ts";',
      'const m = await import("./d.ts");',
      'import "./e.ts";',
      'import h from "./h.svg" with { type: "text" };',
      "/* import w from './block.ts' */ export * from './star.ts';",
      'const q = x.import("./not-an-import.ts");',
    ].join("\n");
    expect(importsOf(src)).toEqual([
      { line: 1, spec: "./a.ts" },
      { line: 5, spec: "./b.ts" },
      { line: 8, spec: "./c.ts" },
      { line: 9, spec: "./d.ts" },
      { line: 10, spec: "./e.ts" },
      { line: 11, spec: "./h.svg" },
      { line: 12, spec: "./star.ts" },
    ]);
  });
});
