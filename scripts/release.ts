/**
 * `bun run release`: one versioned bundle per platform under dist/, everything a city needs to
 * roll rter out with no internet and no build tools on the controller or the targets:
 *
 *   dist/rter-<version>-<platform>.tar.gz        the bundle (layout below)
 *   dist/rter-<version>-<platform>.tar.gz.sig    ssh-keygen -Y signature of the archive itself
 *   dist/rter-<version>.allowed_signers          the signing public key, to publish out of band
 *
 *   rter-<version>-<platform>/
 *     bin/rter  bin/minio  bin/mc                rter (bun --compile), MinIO server and client
 *     ansible/                                   the playbooks and roles; the example inventory
 *                                                installs bin/* from this bundle
 *     sbom.cdx.json                              CycloneDX 1.6: npm packages from bun.lock, Go
 *                                                modules as linked into minio and mc
 *     release.json                               versions and pins
 *     SHA256SUMS  SHA256SUMS.sig                 every file above, and its signature
 *
 * MinIO and mc are built from pinned module versions with `go install` (MinIO's pin is the one
 * scripts/ensure-tools.sh tests against) and cached by version, platform and Go version under
 * RTER_RELEASE_CACHE (default /var/cache/rter-release): minutes of CPU the first time only.
 *
 * Usage: bun scripts/release.ts [--version V] [--platform linux-x64|linux-arm64] [--out DIR]
 *          [--signing-key FILE] [--signer ID] [--rter-binary FILE] [--cache DIR]
 * The signing key (an ssh Ed25519 private key) comes from --signing-key or
 * RTER_RELEASE_SIGNING_KEY; make one with `ssh-keygen -t ed25519 -N '' -f FILE`.
 */
import { $ } from "bun";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildSbom, goModulesOf } from "./release-sbom.ts";

const ROOT = resolve(import.meta.dir, "..");
/** Namespace of every signature (ssh-keygen -Y … -n): a release signature verifies nothing else. */
export const SIGNATURE_NAMESPACE = "rter-release";

/** The mc pin: the version MinIO's own go.mod (at the pinned MinIO) requires. Bump together. */
const MC_MODULE = "github.com/minio/mc@v0.0.0-20250313080218-cf909e1063a9";

const PLATFORMS = {
  "linux-x64": { bun: "bun-linux-x64", goos: "linux", goarch: "amd64" },
  "linux-arm64": { bun: "bun-linux-arm64", goos: "linux", goarch: "arm64" },
} as const;
type Platform = keyof typeof PLATFORMS;

/** MinIO's pin lives in scripts/ensure-tools.sh: the server the tests run is the one we ship. */
export function minioModule(): string {
  const m = /MINIO_MODULE="github\.com\/minio\/minio@\$\{RTER_MINIO_VERSION:-([^}]+)\}"/.exec(readFileSync(join(ROOT, "scripts/ensure-tools.sh"), "utf8"));
  if (!m) throw new Error("scripts/ensure-tools.sh: MINIO_MODULE pin not found");
  return `github.com/minio/minio@${m[1]}`;
}

/** The ldflags MinIO's and mc's own release builds set, derived from the pseudo-version. */
function versionLdflags(module: string): string {
  const [path, version] = module.split("@") as [string, string];
  const m = /^v0\.0\.0-(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})-([0-9a-f]{12})$/.exec(version);
  if (!m) return "-s -w";
  const [, y, mo, d, h, mi, s, commit] = m;
  const pkg = `${path}/cmd`;
  return [
    "-s -w",
    `-X ${pkg}.Version=${y}-${mo}-${d}T${h}:${mi}:${s}Z`,
    `-X ${pkg}.ReleaseTag=RELEASE.${y}-${mo}-${d}T${h}-${mi}-${s}Z`,
    `-X ${pkg}.CommitID=${commit}`,
    `-X ${pkg}.ShortCommitID=${commit}`,
    `-X ${pkg}.CopyrightYear=${y}`,
  ].join(" ");
}

/** A Go program at a pinned module version, built once per (module, platform, Go) into the cache. */
async function goBinary(module: string, name: string, platform: Platform, cacheDir: string): Promise<string> {
  const { goos, goarch } = PLATFORMS[platform];
  const goVersion = (await $`go env GOVERSION`.text()).trim();
  const key = `${module.replaceAll("/", "_").replace("@", "@")}-${goos}-${goarch}-${goVersion}`;
  const out = join(cacheDir, key, name);
  if (existsSync(out)) return out;
  const work = join(cacheDir, `${key}.building-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const native = goos === "linux" && goarch === (process.arch === "arm64" ? "arm64" : "amd64");
  const env = { ...process.env, CGO_ENABLED: "0", GOOS: goos, GOARCH: goarch, GOFLAGS: "-buildvcs=false", ...(native ? { GOBIN: work } : {}) };
  console.log(`release: building ${module} for ${goos}/${goarch} with ${goVersion} (cached afterwards in ${dirname(out)})`);
  const t0 = performance.now();
  const p = Bun.spawn(["go", "install", "-trimpath", `-ldflags=${versionLdflags(module)}`, module], { env, stdout: "inherit", stderr: "inherit" });
  if ((await p.exited) !== 0) throw new Error(`go install ${module} failed`);
  // Cross builds cannot use GOBIN; go puts them in GOPATH/bin/GOOS_GOARCH.
  const built = native ? join(work, name) : join((await $`go env GOPATH`.text()).trim(), "bin", `${goos}_${goarch}`, name);
  mkdirSync(dirname(out), { recursive: true });
  copyFileSync(built, `${out}.part`);
  chmodSync(`${out}.part`, 0o755);
  renameSync(`${out}.part`, out);
  rmSync(work, { recursive: true, force: true });
  console.log(`release: ${name} built in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return out;
}

/**
 * MinIO and mc for a platform from the cache, built first if missing (needs the Go module proxy
 * unless the module cache has every module).
 */
export async function goBinaries(platform: Platform = hostPlatform(), cacheDir = defaultCacheDir()): Promise<{ minio: string; mc: string }> {
  return { minio: await goBinary(minioModule(), "minio", platform, cacheDir), mc: await goBinary(MC_MODULE, "mc", platform, cacheDir) };
}

function hostPlatform(): Platform {
  return process.arch === "arm64" ? "linux-arm64" : "linux-x64";
}

function defaultCacheDir(): string {
  return resolve(process.env.RTER_RELEASE_CACHE ?? "/var/cache/rter-release");
}

function sha256(file: string): string {
  return new Bun.CryptoHasher("sha256").update(readFileSync(file)).digest("hex");
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** deploy/ansible without what is local to one checkout: binaries in files/, other inventories. */
function copyAnsible(dest: string): void {
  const src = join(ROOT, "deploy/ansible");
  cpSync(src, dest, {
    recursive: true,
    filter: (p) => {
      const rel = relative(src, p);
      if (rel === "files" || rel.startsWith("files/")) return false;
      if (/\.retry$|__pycache__/.test(rel)) return false;
      const inv = /^inventories\/([^/]+)/.exec(rel);
      return !inv || inv[1] === "example";
    },
  });
}

async function sign(key: string, file: string): Promise<void> {
  rmSync(`${file}.sig`, { force: true });
  const p = Bun.spawn(["ssh-keygen", "-q", "-Y", "sign", "-f", key, "-n", SIGNATURE_NAMESPACE, file], { stdout: "pipe", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(`ssh-keygen -Y sign ${file} failed: ${await new Response(p.stderr).text()}`);
}

export interface ReleaseResult {
  archive: string;
  signature: string;
  allowedSigners: string;
  dir: string;
  version: string;
  platform: Platform;
}

export async function release(opts: {
  version?: string;
  platform?: Platform;
  out?: string;
  signingKey: string;
  signer?: string;
  rterBinary?: string;
  cacheDir?: string;
}): Promise<ReleaseResult> {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
  const version = opts.version ?? pkg.version;
  if (!/^[0-9A-Za-z][0-9A-Za-z.+-]*$/.test(version)) throw new Error(`version "${version}" is not a plain version string`);
  const platform = opts.platform ?? hostPlatform();
  if (!(platform in PLATFORMS)) throw new Error(`platform ${platform}: known are ${Object.keys(PLATFORMS).join(", ")}`);
  const outDir = resolve(opts.out ?? join(ROOT, "dist"));
  const cacheDir = opts.cacheDir ? resolve(opts.cacheDir) : defaultCacheDir();
  const signer = opts.signer ?? "releases@rter";
  if (!existsSync(opts.signingKey)) throw new Error(`signing key ${opts.signingKey} not found (ssh-keygen -t ed25519 -N '' -f ${opts.signingKey})`);

  const name = `rter-${version}-${platform}`;
  const stage = join(outDir, name);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(join(stage, "bin"), { recursive: true });

  const minio = minioModule();
  const { minio: minioBin, mc: mcBin } = await goBinaries(platform, cacheDir);
  if (opts.rterBinary) copyFileSync(opts.rterBinary, join(stage, "bin/rter"));
  else {
    const p = Bun.spawn(
      ["bun", "build", "--compile", "--minify", "--sourcemap", `--target=${PLATFORMS[platform].bun}`, "cmd/rter.ts", "--outfile", join(stage, "bin/rter")],
      { cwd: ROOT, stdout: "pipe", stderr: "pipe" },
    );
    if ((await p.exited) !== 0) throw new Error(`bun build failed: ${await new Response(p.stderr).text()}`);
  }
  copyFileSync(minioBin, join(stage, "bin/minio"));
  copyFileSync(mcBin, join(stage, "bin/mc"));
  for (const b of ["rter", "minio", "mc"]) chmodSync(join(stage, "bin", b), 0o755);
  copyAnsible(join(stage, "ansible"));

  const commit = (await $`git -C ${ROOT} rev-parse HEAD`.nothrow().text()).trim() || "unknown";
  const goVersion = (await $`go env GOVERSION`.text()).trim();
  const binaries = {
    rter: { file: "bin/rter", version, sha256: sha256(join(stage, "bin/rter")) },
    minio: { file: "bin/minio", module: minio, sha256: sha256(join(stage, "bin/minio")), modules: await goModulesOf(join(stage, "bin/minio")) },
    mc: { file: "bin/mc", module: MC_MODULE, sha256: sha256(join(stage, "bin/mc")), modules: await goModulesOf(join(stage, "bin/mc")) },
  };
  const sbom = buildSbom({ version, platform, lockfile: readFileSync(join(ROOT, "bun.lock"), "utf8"), bunVersion: Bun.version, goVersion, binaries });
  writeFileSync(join(stage, "sbom.cdx.json"), `${JSON.stringify(sbom, null, 2)}\n`);
  writeFileSync(
    join(stage, "release.json"),
    `${JSON.stringify({ name: "rter", version, platform, commit, bun: Bun.version, go: goVersion, minio: minio, mc: MC_MODULE, signer, signatureNamespace: SIGNATURE_NAMESPACE }, null, 2)}\n`,
  );

  // Checksums of every file, in `sha256sum -c` format, then their signature.
  const sums = filesUnder(stage)
    .map((f) => relative(stage, f))
    .sort()
    .map((rel) => `${sha256(join(stage, rel))}  ${rel}`);
  writeFileSync(join(stage, "SHA256SUMS"), `${sums.join("\n")}\n`);
  await sign(opts.signingKey, join(stage, "SHA256SUMS"));

  // One archive, reproducible metadata (owner, order, time of the commit), signed as a whole too.
  const epoch = Number((await $`git -C ${ROOT} log -1 --format=%ct`.nothrow().text()).trim()) || Math.floor(Date.now() / 1000);
  const archive = join(outDir, `${name}.tar.gz`);
  const tar = Bun.spawn(["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", `--mtime=@${epoch}`, "-czf", archive, "-C", outDir, name], {
    stdout: "pipe",
    stderr: "pipe",
  });
  if ((await tar.exited) !== 0) throw new Error(`tar failed: ${await new Response(tar.stderr).text()}`);
  await sign(opts.signingKey, archive);
  const pub = (await $`ssh-keygen -y -f ${opts.signingKey}`.text()).trim();
  const allowedSigners = join(outDir, `rter-${version}.allowed_signers`);
  writeFileSync(allowedSigners, `${signer} namespaces="${SIGNATURE_NAMESPACE}" ${pub}\n`);
  return { archive, signature: `${archive}.sig`, allowedSigners, dir: stage, version, platform };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      version: { type: "string" },
      platform: { type: "string" },
      out: { type: "string" },
      "signing-key": { type: "string" },
      signer: { type: "string" },
      "rter-binary": { type: "string" },
      cache: { type: "string" },
    },
    strict: true,
  });
  const signingKey = values["signing-key"] ?? process.env.RTER_RELEASE_SIGNING_KEY;
  if (!signingKey) {
    console.error("release: give the signing key with --signing-key FILE or RTER_RELEASE_SIGNING_KEY (ssh-keygen -t ed25519 -N '' -f FILE makes one)");
    process.exit(2);
  }
  const t0 = performance.now();
  try {
    const r = await release({
      version: values.version,
      platform: values.platform as Platform | undefined,
      out: values.out,
      signingKey,
      signer: values.signer,
      rterBinary: values["rter-binary"],
      cacheDir: values.cache,
    });
    console.log(
      `release: ${relative(process.cwd(), r.archive)} (${(statSync(r.archive).size / 1e6).toFixed(0)} MB), signature ${relative(process.cwd(), r.signature)}, public key ${relative(process.cwd(), r.allowedSigners)} in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    );
  } catch (e) {
    console.error(`release: ${(e as Error).message}`);
    process.exit(1);
  }
}
