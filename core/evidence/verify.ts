import { createHash, createPublicKey, verify as edVerify, type KeyObject } from "node:crypto";
import { AUDIT_EXTRACT, EXPORT_INFO, MANIFEST, parseManifest, PUBLIC_KEY, SIGNATURE } from "./manifest.ts";
import { checkAuditExtract, type AuditHead } from "./audit-extract.ts";
import { listTar, memorySource, TarError, type ByteSource } from "./tar-reader.ts";

export { TarError, type ByteSource };

export interface VerifyReport {
  ok: boolean;
  /** One line per fault, each starting with the file it concerns. */
  problems: string[];
  files: number;
  auditEntries: number;
  keyFingerprint: string | null;
  /** Where the key came from: the caller's (published) key, or the one inside the package. */
  keySource: "given" | "package" | null;
}

/** "SHA256:<base64>" of the key's SubjectPublicKeyInfo DER: what the admin page and docs show. */
export function keyFingerprint(key: KeyObject): string {
  return `SHA256:${createHash("sha256")
    .update(key.export({ type: "spki", format: "der" }))
    .digest("base64")
    .replace(/=+$/, "")}`;
}

function parseKey(pem: string | Uint8Array): KeyObject | null {
  try {
    const k = createPublicKey(typeof pem === "string" ? pem : Buffer.from(pem));
    return k.asymmetricKeyType === "ed25519" ? k : null;
  } catch {
    return null;
  }
}

/** The files the verifier reads whole (manifest, signature, key, export.json, audit extract); media is only hashed. */
const SMALL = new Set([MANIFEST, SIGNATURE, PUBLIC_KEY, EXPORT_INFO, AUDIT_EXTRACT]);
/** A package's own small files never come near this; a bigger one is refused rather than read into memory. */
const MAX_SMALL_BYTES = 256 * 1024 * 1024;
const PIECE = 1 << 20;

function sha256Of(src: ByteSource, offset: number, size: number): string {
  const h = createHash("sha256");
  for (let at = 0; at < size; at += PIECE) h.update(src.read(offset + at, Math.min(PIECE, size - at)));
  return h.digest("hex");
}

/**
 * Checks an evidence package: every file against the manifest, the manifest's signature, and the
 * audit extract's chain. Reads the archive piece by piece (media files are hashed, never held).
 * Throws TarError when the bytes are not a readable tar at all; everything else is a problem in
 * the report naming its file.
 */
export function verifyPackage(archive: Uint8Array | ByteSource, opts: { publicKeyPem?: string } = {}): VerifyReport {
  const src = archive instanceof Uint8Array ? memorySource(archive) : archive;
  const entries = listTar(src);
  const problems: string[] = [];
  // Every package has one top directory (rter-evidence-<id>/); paths are compared below it.
  const tops = new Set(entries.map((f) => f.path.split("/")[0]));
  const root = tops.size === 1 && entries.every((f) => f.path.includes("/")) ? `${[...tops][0]}/` : "";
  const where = new Map<string, { offset: number; size: number }>();
  const files = new Map<string, Uint8Array>();
  for (const f of entries) {
    const p = f.path.slice(root.length);
    if (where.has(p)) problems.push(`${p}: appears more than once in the archive`);
    where.set(p, f);
    if (SMALL.has(p)) {
      if (f.size > MAX_SMALL_BYTES) throw new TarError(`${p} is ${f.size} bytes, too large for a package's own file`);
      files.set(p, new Uint8Array(src.read(f.offset, f.size)));
    }
  }
  const report: VerifyReport = { ok: false, problems, files: 0, auditEntries: 0, keyFingerprint: null, keySource: null };
  const manifest = files.get(MANIFEST);
  if (!manifest) {
    problems.push(`${MANIFEST}: missing (not an rter evidence package)`);
    return report;
  }

  // The signature: with the key the caller trusts, else the one the package carries.
  const packaged = files.get(PUBLIC_KEY);
  let key: KeyObject | null = null;
  if (opts.publicKeyPem !== undefined) {
    key = parseKey(opts.publicKeyPem);
    if (!key) throw new TarError("the key given is not an Ed25519 public key in PEM form");
    report.keySource = "given";
    const inner = packaged ? parseKey(packaged) : null;
    if (packaged && (!inner || keyFingerprint(inner) !== keyFingerprint(key))) problems.push(`${PUBLIC_KEY}: not the key given`);
  } else if (packaged) {
    key = parseKey(packaged);
    report.keySource = "package";
    if (!key) problems.push(`${PUBLIC_KEY}: not an Ed25519 public key`);
  } else problems.push(`${PUBLIC_KEY}: missing, and no key given`);
  const sig = files.get(SIGNATURE);
  if (!sig) problems.push(`${SIGNATURE}: missing`);
  if (key) report.keyFingerprint = keyFingerprint(key);

  // Every file against its line.
  const before = problems.length;
  const { entries: listed, bad } = parseManifest(new TextDecoder().decode(manifest));
  for (const b of bad) problems.push(`${MANIFEST}: ${b} is not "<sha256>  <path>"`);
  const seen = new Set<string>();
  for (const e of listed) {
    seen.add(e.path);
    const at = where.get(e.path);
    if (!at) problems.push(`${e.path}: listed in the manifest but missing`);
    else if (sha256Of(src, at.offset, at.size) !== e.sha256) problems.push(`${e.path}: changed (SHA-256 does not match the manifest)`);
  }
  for (const p of where.keys()) if (p !== MANIFEST && p !== SIGNATURE && !seen.has(p)) problems.push(`${p}: not in the manifest`);
  report.files = listed.length;

  // A signature that fails over a manifest that still agrees with every file points at the
  // signature (or the key); over one that does not, at the manifest.
  if (key && sig && !(sig.length === 64 && edVerify(null, manifest, key, sig))) {
    const manifestAgrees = problems.length === before;
    problems.push(
      manifestAgrees
        ? `${SIGNATURE}: does not verify over ${MANIFEST} with this key (the signature changed, the key is not the signer's, or ${MANIFEST} was rewritten together with files)`
        : `${MANIFEST}: changed (its signature no longer verifies)`,
    );
  }

  // The audit extract's own chain, against the head the package recorded.
  const extract = files.get(AUDIT_EXTRACT);
  if (extract) {
    let head: AuditHead | null = null;
    try {
      const info = JSON.parse(new TextDecoder().decode(files.get(EXPORT_INFO) ?? new Uint8Array())) as { audit_head?: AuditHead | null };
      head = info.audit_head ?? null;
    } catch {
      problems.push(`${EXPORT_INFO}: not JSON`);
    }
    const r = checkAuditExtract(new TextDecoder().decode(extract), head);
    for (const p of r.problems) problems.push(`${AUDIT_EXTRACT}: ${p}`);
    report.auditEntries = r.entries;
  } else problems.push(`${AUDIT_EXTRACT}: missing`);

  report.ok = problems.length === 0;
  return report;
}
