/**
 * The package manifest: one line per file, `<sha256 hex>  <path>`, sorted by path — exactly the
 * format of `sha256sum`, so `sha256sum -c MANIFEST` checks a package with no rter at all. The
 * detached Ed25519 signature (MANIFEST.sig, 64 raw bytes) is over these exact bytes.
 */
export const MANIFEST = "MANIFEST";
export const SIGNATURE = "MANIFEST.sig";
export const PUBLIC_KEY = "rter-signing-key.pem";
export const EXPORT_INFO = "export.json";
export const AUDIT_EXTRACT = "audit/audit.ndjson";

export interface ManifestEntry {
  path: string;
  sha256: string;
}

/** A path a package may hold: relative, '/'-separated, no '.', '..', spaces or control characters. */
export function safePackagePath(p: string): boolean {
  return /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(p) && !p.split("/").some((s) => s === "." || s === "..");
}

export function formatManifest(entries: ManifestEntry[]): string {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const e of sorted) {
    if (!safePackagePath(e.path)) throw new Error(`unsafe path in manifest: ${e.path}`);
    if (!/^[0-9a-f]{64}$/.test(e.sha256)) throw new Error(`bad sha256 for ${e.path}`);
  }
  return sorted.map((e) => `${e.sha256}  ${e.path}\n`).join("");
}

/** Parses a manifest; a line that is not `<64 hex>  <safe path>` is reported, not skipped. */
export function parseManifest(text: string): { entries: ManifestEntry[]; bad: string[] } {
  const entries: ManifestEntry[] = [];
  const bad: string[] = [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  lines.forEach((line, i) => {
    const m = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    if (m && safePackagePath(m[2]!)) entries.push({ sha256: m[1]!, path: m[2]! });
    else bad.push(`line ${i + 1}`);
  });
  return { entries, bad };
}
