import { createHash, createPublicKey, verify as edVerify, type KeyObject } from "node:crypto";
import { AUDIT_EXTRACT, EXPORT_INFO, MANIFEST, parseManifest, PUBLIC_KEY, SIGNATURE } from "./manifest.ts";
import { checkAuditExtract, type AuditHead } from "./audit-extract.ts";
import { readTar, TarError } from "./tar-reader.ts";

export { TarError };

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
  return `SHA256:${createHash("sha256").update(key.export({ type: "spki", format: "der" })).digest("base64").replace(/=+$/, "")}`;
}

function parseKey(pem: string | Uint8Array): KeyObject | null {
  try {
    const k = createPublicKey(typeof pem === "string" ? pem : Buffer.from(pem));
    return k.asymmetricKeyType === "ed25519" ? k : null;
  } catch {
    return null;
  }
}

const sha256 = (d: Uint8Array) => createHash("sha256").update(d).digest("hex");

/**
 * Checks an evidence package held in memory: every file against the manifest, the manifest's
 * signature, and the audit extract's chain. Throws TarError when the bytes are not a readable tar
 * at all; everything else is a problem in the report naming its file.
 */
export function verifyPackage(archive: Uint8Array, opts: { publicKeyPem?: string } = {}): VerifyReport {
  const entries = readTar(archive);
  const problems: string[] = [];
  // Every package has one top directory (rter-evidence-<id>/); paths are compared below it.
  const tops = new Set(entries.map((f) => f.path.split("/")[0]));
  const root = tops.size === 1 && entries.every((f) => f.path.includes("/")) ? `${[...tops][0]}/` : "";
  const files = new Map<string, Uint8Array>();
  for (const f of entries) {
    const p = f.path.slice(root.length);
    if (files.has(p)) problems.push(`${p}: appears more than once in the archive`);
    files.set(p, f.data);
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
    const data = files.get(e.path);
    if (!data) problems.push(`${e.path}: listed in the manifest but missing`);
    else if (sha256(data) !== e.sha256) problems.push(`${e.path}: changed (SHA-256 does not match the manifest)`);
  }
  for (const p of files.keys()) if (p !== MANIFEST && p !== SIGNATURE && !seen.has(p)) problems.push(`${p}: not in the manifest`);
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
