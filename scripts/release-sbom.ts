/**
 * CycloneDX 1.6 SBOM of a release bundle, written by hand: no maintained CycloneDX generator reads
 * bun.lock, and Go's own build info (`go version -m`) already names every module linked into a
 * binary with its go.sum hash. Components:
 *   - rter: the npm packages reachable from package.json's "dependencies" in bun.lock (dev
 *     dependencies and packages for other platforms left out), with their registry integrity
 *     hashes, and the Bun runtime compiled into the binary;
 *   - minio, mc: every Go module in their build info, and the Go standard library;
 *   - the dependency graph between them.
 */

export interface GoModule {
  path: string;
  version: string;
  /** go.sum hash ("h1:…"); absent for the main module of a `go install` build. */
  sum?: string;
}

/** The modules linked into a Go binary, from its embedded build info (replacements applied). */
export async function goModulesOf(binary: string): Promise<GoModule[]> {
  const p = Bun.spawn(["go", "version", "-m", binary], { stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  if (code !== 0) throw new Error(`go version -m ${binary} failed`);
  const mods: GoModule[] = [];
  for (const line of out.split("\n")) {
    const f = line.trim().split("\t");
    if (f[0] === "mod" || f[0] === "dep") mods.push({ path: f[1]!, version: f[2]!, sum: f[3] || undefined });
    // "=>" replaces the module on the line above.
    else if (f[0] === "=>" && mods.length) mods[mods.length - 1] = { path: f[1]!, version: f[2]!, sum: f[3] || undefined };
  }
  return mods;
}

type LockEntry = [string, string, Record<string, unknown>?, string?];

interface NpmPackage {
  key: string;
  name: string;
  version: string;
  integrity?: string;
  deps: string[];
}

/** npm's os/cpu names for the target. */
function platformOf(platform: string): { os: string; cpu: string } {
  const [os, cpu] = platform.split("-") as [string, string];
  return { os, cpu };
}

function matches(field: unknown, value: string): boolean {
  if (field === undefined) return true;
  const list = Array.isArray(field) ? (field as string[]) : [String(field)];
  if (list.includes("none")) return false;
  const negated = list.filter((x) => x.startsWith("!"));
  if (negated.includes(`!${value}`)) return false;
  const positive = list.filter((x) => !x.startsWith("!"));
  return positive.length === 0 || positive.includes(value);
}

/**
 * The production closure of bun.lock: from the root workspace's dependencies through each
 * package's dependencies and optionalDependencies. A dependency N of the package at key K
 * resolves like node_modules does: "K/N", then the parents of K, then the top-level "N".
 */
export function npmProductionClosure(lockText: string, platform: string): NpmPackage[] {
  const lock = Bun.JSONC.parse(lockText) as { workspaces: Record<string, { dependencies?: Record<string, string> }>; packages: Record<string, LockEntry> };
  const { os, cpu } = platformOf(platform);
  const resolveKey = (from: string, dep: string): string | null => {
    // The key's package names: "a/@s/b/c" is a > @s/b > c.
    const names: string[] = [];
    const parts = from ? from.split("/") : [];
    for (let i = 0; i < parts.length; i++) names.push(parts[i]!.startsWith("@") ? `${parts[i]}/${parts[++i]}` : parts[i]!);
    for (let n = names.length; n > 0; n--) {
      const key = `${names.slice(0, n).join("/")}/${dep}`;
      if (lock.packages[key]) return key;
    }
    return lock.packages[dep] ? dep : null;
  };
  const seen = new Map<string, NpmPackage>();
  const queue = Object.keys(lock.workspaces[""]?.dependencies ?? {})
    .map((d) => resolveKey("", d))
    .filter((k): k is string => k !== null);
  while (queue.length) {
    const key = queue.shift()!;
    if (seen.has(key)) continue;
    const [ident, , meta = {}, integrity] = lock.packages[key]!;
    if (!matches(meta.os, os) || !matches(meta.cpu, cpu)) continue;
    const at = ident.lastIndexOf("@");
    const pkg: NpmPackage = { key, name: ident.slice(0, at), version: ident.slice(at + 1), integrity, deps: [] };
    seen.set(key, pkg);
    const deps = { ...(meta.dependencies as Record<string, string> | undefined), ...(meta.optionalDependencies as Record<string, string> | undefined) };
    for (const d of Object.keys(deps)) {
      const k = resolveKey(key, d);
      if (k) {
        pkg.deps.push(k);
        queue.push(k);
      }
    }
  }
  // Dependencies on packages filtered out for this platform are dropped from the graph.
  for (const p of seen.values()) p.deps = p.deps.filter((k) => seen.has(k));
  return [...seen.values()];
}

function npmPurl(name: string, version: string): string {
  const [scope, bare] = name.startsWith("@") ? (name.split("/") as [string, string]) : [null, name];
  return `pkg:npm/${scope ? `${encodeURIComponent(scope)}/` : ""}${encodeURIComponent(bare)}@${encodeURIComponent(version)}`;
}

function sriToHash(sri: string | undefined): { alg: string; content: string }[] {
  const m = /^sha(512|384|256)-(.+)$/.exec(sri ?? "");
  if (!m) return [];
  return [{ alg: `SHA-${m[1]}`, content: Buffer.from(m[2]!, "base64").toString("hex") }];
}

export interface SbomInput {
  version: string;
  platform: string;
  lockfile: string;
  bunVersion: string;
  goVersion: string;
  binaries: {
    rter: { file: string; version: string; sha256: string };
    minio: { file: string; module: string; sha256: string; modules: GoModule[] };
    mc: { file: string; module: string; sha256: string; modules: GoModule[] };
  };
}

export function buildSbom(input: SbomInput): Record<string, unknown> {
  const components = new Map<string, Record<string, unknown>>();
  const graph = new Map<string, Set<string>>();
  const edge = (from: string, to: string) => {
    if (!graph.has(from)) graph.set(from, new Set());
    graph.get(from)!.add(to);
  };

  // rter and its npm closure.
  const npm = npmProductionClosure(input.lockfile, input.platform);
  const refOf = new Map(npm.map((p) => [p.key, `npm:${p.name}@${p.version}`]));
  for (const p of npm) {
    const ref = refOf.get(p.key)!;
    if (!components.has(ref))
      components.set(ref, {
        type: "library",
        "bom-ref": ref,
        name: p.name,
        version: p.version,
        purl: npmPurl(p.name, p.version),
        hashes: sriToHash(p.integrity),
      });
    graph.set(ref, graph.get(ref) ?? new Set());
    for (const d of p.deps) edge(ref, refOf.get(d)!);
  }
  const bunRef = `runtime:bun@${input.bunVersion}`;
  components.set(bunRef, {
    type: "platform",
    "bom-ref": bunRef,
    name: "bun",
    version: input.bunVersion,
    description: "JavaScript runtime compiled into bin/rter (bun build --compile)",
  });
  components.set("app:rter", {
    type: "application",
    "bom-ref": "app:rter",
    name: "rter",
    version: input.binaries.rter.version,
    hashes: [{ alg: "SHA-256", content: input.binaries.rter.sha256 }],
    properties: [{ name: "rter:bundle:file", value: input.binaries.rter.file }],
  });
  const lock = Bun.JSONC.parse(input.lockfile) as { workspaces: Record<string, { dependencies?: Record<string, string> }> };
  for (const d of Object.keys(lock.workspaces[""]?.dependencies ?? {})) {
    const p = npm.find((x) => x.key === d);
    if (p) edge("app:rter", refOf.get(p.key)!);
  }
  edge("app:rter", bunRef);

  // minio and mc and their Go modules.
  const goStd = `go:stdlib@${input.goVersion}`;
  components.set(goStd, { type: "library", "bom-ref": goStd, name: "stdlib", version: input.goVersion, purl: `pkg:golang/stdlib@${input.goVersion}` });
  for (const which of ["minio", "mc"] as const) {
    const b = input.binaries[which];
    const [path, version] = b.module.split("@") as [string, string];
    const appRef = `app:${which}`;
    components.set(appRef, {
      type: "application",
      "bom-ref": appRef,
      name: which,
      version,
      purl: `pkg:golang/${path}@${version}`,
      hashes: [{ alg: "SHA-256", content: b.sha256 }],
      properties: [{ name: "rter:bundle:file", value: b.file }],
    });
    edge(appRef, goStd);
    for (const m of b.modules) {
      if (m.path === path) continue;
      const ref = `go:${m.path}@${m.version}`;
      if (!components.has(ref)) {
        components.set(ref, {
          type: "library",
          "bom-ref": ref,
          name: m.path,
          version: m.version,
          purl: `pkg:golang/${m.path}@${m.version}`,
          ...(m.sum ? { properties: [{ name: "go:sum", value: m.sum }] } : {}),
        });
      }
      edge(appRef, ref);
    }
  }

  const bundleRef = `bundle:rter-${input.version}-${input.platform}`;
  for (const a of ["app:rter", "app:minio", "app:mc"]) edge(bundleRef, a);
  return {
    bomFormat: "CycloneDX",
    specVersion: "1.6",
    serialNumber: `urn:uuid:${crypto.randomUUID()}`,
    version: 1,
    metadata: {
      timestamp: new Date().toISOString(),
      tools: { components: [{ type: "application", name: "rter scripts/release.ts", version: input.version }] },
      component: { type: "application", "bom-ref": bundleRef, name: "rter", version: input.version, description: `rter release bundle for ${input.platform}` },
    },
    components: [...components.values()],
    dependencies: [...graph.entries()].map(([ref, deps]) => ({ ref, dependsOn: [...deps].sort() })),
  };
}
