import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { TarError, verifyPackage, type ByteSource } from "../core/evidence/verify.ts";
import { UsageError } from "./args.ts";
import { parseArgs } from "node:util";

export const EVIDENCE_HELP = `Usage: rter evidence verify FILE [--key PUBLIC_KEY.pem] [--quiet]

Checks an evidence package offline: every file against the SHA-256 in its MANIFEST, the Ed25519
signature over the MANIFEST, and the chain of its audit-trail extract. Prints one line per file
that changed, is missing or was added, then a summary. Exit 0 only when everything checks out,
1 when something does not, 2 when FILE cannot be read as a package (missing, not a tar, truncated).

  --key FILE   the appliance's published public key (GET /api/v1/admin/signing-key, docs/evidence.md);
               without it the key inside the package is used and its fingerprint printed, to be
               compared with the published one.`;

function sizeOf(path: string): number {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new UsageError(`${path} is not a file`);
    size = st.size;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
  if (size === 0) throw new UsageError(`${path} is empty, not an evidence package`);
  return size;
}

/** The package read piece by piece: a many-gigabyte package is hashed, never held in memory. */
function fileSource(path: string, fd: number): ByteSource {
  const size = sizeOf(path);
  return {
    size,
    read(offset, length) {
      const buf = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, offset + got);
        if (n === 0) throw new TarError(`${path} changed size while being read`);
        got += n;
      }
      return buf;
    },
  };
}

export async function evidence(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { key: { type: "string" }, quiet: { type: "boolean" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0]!);
  }
  const { values, positionals } = parsed;
  if (values.help) return (console.log(EVIDENCE_HELP), 0);
  const [sub, file, ...extra] = positionals;
  if (sub !== "verify")
    throw new UsageError(
      sub === undefined ? "evidence needs a subcommand: evidence verify FILE" : `unknown evidence subcommand "${sub}" (expected: evidence verify FILE)`,
    );
  if (!file) throw new UsageError("evidence verify needs the package file");
  if (extra.length) throw new UsageError(`evidence verify takes one file, got also "${extra[0]}"`);
  const keyPem = values.key === undefined ? undefined : (sizeOf(values.key), readFileSync(values.key, "utf8"));
  sizeOf(file);
  let report;
  const fd = openSync(file, "r");
  try {
    report = verifyPackage(fileSource(file, fd), { publicKeyPem: keyPem });
  } catch (e) {
    if (e instanceof TarError) throw new UsageError(`${file}: ${e.message}`);
    throw e;
  } finally {
    closeSync(fd);
  }
  for (const p of report.problems) console.log(`FAILED ${p}`);
  const key = report.keyFingerprint
    ? `signing key ${report.keyFingerprint}${report.keySource === "package" ? " (the package's own: compare it with the published key, or pass --key)" : ""}`
    : "no usable signing key";
  if (report.ok) {
    if (!values.quiet) console.log(`OK ${report.files} files match the signed manifest; ${report.auditEntries} audit entries hold; ${key}`);
    return 0;
  }
  console.log(`NOT VERIFIED: ${report.problems.length} problem${report.problems.length === 1 ? "" : "s"}; ${key}`);
  return 1;
}
