import { basename, dirname, relative, sep } from "node:path";
import type { HTMLBundle } from "bun";

// Page bundling and serving: how the UI's HTML bundles become routes that carry the page headers.
// The headers themselves (the policy) come from core/http/security-headers.ts.

/** Built scripts and styles carry a content hash in their names: a new build gets new names. */
const IMMUTABLE = "public, max-age=31536000, immutable";

function isHtmlBundle(v: unknown): v is HTMLBundle {
  return typeof v === "object" && v !== null && typeof (v as HTMLBundle).index === "string" && !(v instanceof Response);
}

/**
 * Bun serves HTML-import routes itself, past our fetch handler, so their responses would carry
 * no security headers. In the compiled binary the bundle lists its built files: serve those from
 * our own route handlers with the page headers instead. Running from source (Bun's development
 * server) the bundle has no file list: buildPageRoutes turns it into static Responses first, and
 * a bundle still left here is left to Bun. Static Responses get the headers set on them.
 */
export function securePageRoutes(routes: Record<string, unknown>, headers: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const assets: Record<string, unknown> = {};
  for (const [path, v] of Object.entries(routes)) {
    if (v instanceof Response) {
      // Static answers (service worker, manifest, icon) are served by Bun as they are: harden them once.
      for (const [k, val] of Object.entries(headers)) if (!v.headers.has(k)) v.headers.set(k, val);
      out[path] = v;
      continue;
    }
    if (!isHtmlBundle(v) || !v.files?.length) {
      out[path] = v;
      continue;
    }
    const page = v.files.find((f) => f.path === v.index);
    const pageType = page?.headers["content-type"] ?? "text/html;charset=utf-8";
    out[path] = () => new Response(Bun.file(v.index), { headers: { ...headers, "content-type": pageType, "cache-control": "no-cache" } });
    for (const f of v.files) {
      if (f.path === v.index) continue;
      assets[`/${basename(f.path)}`] ??= () =>
        new Response(Bun.file(f.path), { headers: { ...f.headers, "x-content-type-options": "nosniff", "cache-control": IMMUTABLE } });
    }
  }
  return { ...assets, ...out };
}

/** The deepest folder holding every one of these files. */
function commonDir(files: string[]): string {
  let dir = dirname(files[0]!);
  while (!files.every((f) => f.startsWith(dir.endsWith(sep) ? dir : dir + sep))) dir = dirname(dir);
  return dir;
}

/**
 * Running from source, HTML imports carry no file list and Bun's development server would serve
 * them itself, past our handler and without our headers (no CSP, nosniff or frame denial). So
 * build them once at start instead (about 0.1 s) and serve the result from memory as static
 * Responses, which securePageRoutes hardens like every other: pages no-cache, their hashed
 * scripts and styles immutable at /<name>, where the pages' publicPath "/" points. The compiled
 * binary's bundles (file list present) and every other route are returned as they are.
 */
export async function buildPageRoutes(routes: Record<string, unknown>): Promise<Record<string, unknown>> {
  const pages = Object.entries(routes).filter((e): e is [string, HTMLBundle] => isHtmlBundle(e[1]) && !e[1].files?.length);
  if (pages.length === 0) return routes;
  const entrypoints = [...new Set(pages.map(([, b]) => b.index))];
  const root = commonDir(entrypoints);
  let build: Bun.BuildOutput;
  try {
    build = await Bun.build({ entrypoints, root, target: "browser", minify: true, publicPath: "/" });
  } catch (e) {
    throw new Error(`building the web pages failed: ${(e as Error).message}`, { cause: e });
  }
  if (!build.success) throw new Error(`building the web pages failed: ${build.logs.map(String).join("; ")}`);
  const files = new Map<string, { bytes: ArrayBuffer; type: string }>();
  for (const o of build.outputs) files.set(o.path.replace(/^\.\//, ""), { bytes: await o.arrayBuffer(), type: o.type });
  const entries = new Set(entrypoints.map((e) => relative(root, e).split(sep).join("/")));
  const out: Record<string, unknown> = {};
  for (const [name, f] of files) {
    if (!entries.has(name)) out[`/${name}`] = new Response(f.bytes, { headers: { "content-type": f.type, "cache-control": IMMUTABLE } });
  }
  for (const [path, v] of Object.entries(routes)) {
    if (!pages.some(([p]) => p === path)) {
      out[path] = v;
      continue;
    }
    const page = files.get(
      relative(root, (v as HTMLBundle).index)
        .split(sep)
        .join("/"),
    );
    if (!page) throw new Error(`building the web pages gave no output for ${(v as HTMLBundle).index}`);
    out[path] = new Response(page.bytes, { headers: { "content-type": page.type, "cache-control": "no-cache" } });
  }
  return out;
}
