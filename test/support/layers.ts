import { readdirSync, readFileSync } from "node:fs";
import { join, posix, relative, sep } from "node:path";

/**
 * The import-direction rules, as data and a checker (test/architecture.test.ts runs them over the
 * repository). Paths are repository-relative with forward slashes.
 *
 * - core/ is the library: it never imports the layers built on it (app/, cmd/, workers/, web/).
 * - Infrastructure (core/db, core/storage, core/media, core/config) knows no feature: features
 *   use it, never the other way round. Shared top-level files (core/errors.ts, core/log.ts, …)
 *   and core/util are kernel, open to all.
 * - A service (*.service.ts) is callable from HTTP, workers and the CLI alike, so it never imports
 *   HTTP code (*.http.ts, core/http/*).
 */

export interface ImportRef {
  /** The importing file. */
  from: string;
  line: number;
  /** The specifier as written. */
  spec: string;
  /** The imported file, resolved; null for packages ("elysia", "node:fs"). */
  to: string | null;
}

export interface Violation extends ImportRef {
  rule: string;
}

const INFRASTRUCTURE = ["core/db", "core/storage", "core/media", "core/config"];
const UPPER_LAYERS = ["app/", "cmd/", "workers/", "web/"];

function under(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith("/") ? dir : `${dir}/`);
}

/** The core/* folder a path lies in ("core/tags"), or null for core's top-level files and outside core. */
function coreFolder(path: string): string | null {
  const m = /^core\/([^/]+)\//.exec(path);
  return m ? `core/${m[1]}` : null;
}

function isHttpCode(path: string): boolean {
  return path.endsWith(".http.ts") || under(path, "core/http");
}

/** The rule this import breaks, or null. */
export function ruleBroken(ref: ImportRef): string | null {
  const { from, to } = ref;
  if (!to || !from.startsWith("core/")) return null;
  const upper = UPPER_LAYERS.find((l) => to.startsWith(l));
  if (upper) return `core/ imports ${upper}`;
  const fromInfra = INFRASTRUCTURE.find((d) => under(from, d));
  const target = coreFolder(to);
  if (fromInfra && target && target !== "core/util" && !INFRASTRUCTURE.includes(target)) return `infrastructure (${fromInfra}) imports a feature (${target})`;
  if (from.endsWith(".service.ts") && isHttpCode(to)) return "a service imports HTTP code";
  return null;
}

export function violations(refs: readonly ImportRef[]): Violation[] {
  const out: Violation[] = [];
  for (const r of refs) {
    const rule = ruleBroken(r);
    if (rule) out.push({ ...r, rule });
  }
  return out;
}

export function formatViolation(v: Violation): string {
  return `${v.from}:${v.line}: ${v.rule}: "${v.spec}"`;
}

/** Skips a string, template or comment starting at i; returns the index after it, or i when none starts there. */
function skipNonCode(src: string, i: number): number {
  const c = src[i];
  if (c === "/" && src[i + 1] === "/") {
    const end = src.indexOf("\n", i);
    return end < 0 ? src.length : end;
  }
  if (c === "/" && src[i + 1] === "*") {
    const end = src.indexOf("*/", i + 2);
    return end < 0 ? src.length : end + 2;
  }
  if (c === '"' || c === "'" || c === "`") {
    let j = i + 1;
    while (j < src.length && src[j] !== c) {
      if (src[j] === "\\") j++;
      // A template's ${…} may hold code with its own strings; skip it by brace depth.
      else if (c === "`" && src[j] === "$" && src[j + 1] === "{") {
        let depth = 1;
        j += 2;
        while (j < src.length && depth > 0) {
          const k = skipNonCode(src, j);
          if (k !== j) {
            j = k;
            continue;
          }
          if (src[j] === "{") depth++;
          else if (src[j] === "}") depth--;
          j++;
        }
        continue;
      }
      j++;
    }
    return j + 1;
  }
  return i;
}

// Matched only where `import`/`export` starts in code (not inside a string or comment).
const STATIC = /^(?:import|export)\b[^;'"`]*?\bfrom\s*(['"])([^'"\n]+)\1/;
const BARE = /^import\s*(['"])([^'"\n]+)\1/;
const DYNAMIC = /^import\s*\(\s*(['"])([^'"\n]+)\1\s*[,)]/;

/** Every import, re-export and literal dynamic import in one file's source, with its line. */
export function importsOf(src: string): { line: number; spec: string }[] {
  const out: { line: number; spec: string }[] = [];
  let line = 1;
  let i = 0;
  while (i < src.length) {
    const j = skipNonCode(src, i);
    if (j !== i) {
      for (let k = i; k < j && k < src.length; k++) if (src[k] === "\n") line++;
      i = j;
      continue;
    }
    const c = src[i]!;
    if (c === "\n") line++;
    else if ((c === "i" || c === "e") && !/[\w$.]/.test(src[i - 1] ?? "")) {
      const rest = src.slice(i, i + 2000);
      const m = STATIC.exec(rest) ?? BARE.exec(rest) ?? DYNAMIC.exec(rest);
      if (m) {
        // The line of the specifier, which is where a reader looks.
        const specAt = m.index + m[0].lastIndexOf(m[2]!);
        let specLine = line;
        for (let k = 0; k < specAt; k++) if (rest[k] === "\n") specLine++;
        out.push({ line: specLine, spec: m[2]! });
      }
    }
    i++;
  }
  // A lazy match that ran past a statement can find a later import twice.
  return out.filter((r, k) => out.findIndex((o) => o.line === r.line && o.spec === r.spec) === k);
}

/** Resolves a relative specifier against the importing file; packages give null. */
export function resolveSpec(from: string, spec: string): string | null {
  if (!spec.startsWith("./") && !spec.startsWith("../")) return null;
  return posix.normalize(posix.join(posix.dirname(from), spec));
}

/** Every .ts file under the given top-level folders of root, repository-relative. */
export function sourceFiles(root: string, dirs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name === "node_modules" || e.name.startsWith(".")) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.tsx?$/.test(e.name) && !e.name.endsWith(".d.ts")) out.push(relative(root, p).split(sep).join("/"));
    }
  };
  for (const d of dirs) walk(join(root, d));
  return out.sort();
}

export function repositoryImports(root: string, dirs: readonly string[]): ImportRef[] {
  const refs: ImportRef[] = [];
  for (const from of sourceFiles(root, dirs)) {
    const src = readFileSync(join(root, from), "utf8");
    for (const { line, spec } of importsOf(src)) refs.push({ from, line, spec, to: resolveSpec(from, spec) });
  }
  return refs;
}

/**
 * Module-level state in core/: a Map or Set created empty at the top of a module is memory that
 * every node in the process shares. A node's caches belong on its context (core/runtime.ts);
 * what may stay process-wide is listed here with the reason.
 */
export const PROCESS_WIDE: Record<string, string> = {
  "core/auth/directory/directory.service.ts:inFlight": "coalesces concurrent directory re-reads of one user; holds nothing once they end",
  "core/auth/oidc/recheck.ts:inFlight": "coalesces concurrent provider re-checks of one session; holds nothing once they end",
  "core/auth/oidc/provider.ts:discovered": "the provider's discovery document, keyed by the config object itself",
  "core/auth/directory/ldap.ts:inChainChecked": "that the directory of this config object announced AD's chain rule, keyed by the config object itself",
  "core/auth/auth.service.ts:keys": "derived signing keys, keyed by the secret's object",
  "core/db/embedded-postgres.ts:live": "the embedded Postgres children this process must stop when it exits",
};

const MODULE_STATE = /^(?:export\s+)?(?:const|let)\s+(\w+)(?:\s*:[^=]+)?\s*=\s*new\s+(?:Map|Set|WeakMap|WeakSet)\s*(?:<[^=]*>)?\(\s*\)/;

/** Empty Maps and Sets made at the top level of one file's source ("name" and line). */
export function moduleState(src: string): { name: string; line: number }[] {
  const out: { name: string; line: number }[] = [];
  src.split("\n").forEach((text, i) => {
    const m = MODULE_STATE.exec(text);
    if (m) out.push({ name: m[1]!, line: i + 1 });
  });
  return out;
}
