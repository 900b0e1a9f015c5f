import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A throwaway CA and the certificates it issues, made by openssl the way the deploy roles make
 * the internal CA (EC P-256, SANs for the addresses clients dial).
 */
export interface TestCa {
  dir: string;
  /** Path of the CA certificate (PEM). */
  caFile: string;
  caPem: string;
  /** Issues a server certificate for these SANs ("IP:127.0.0.1", "DNS:localhost"); returns the file paths. */
  issue(name: string, sans: string[], opts?: { days?: number }): { certFile: string; keyFile: string };
}

function openssl(args: string[], cwd: string): void {
  const p = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${p.stderr.toString()}`);
}

export function makeTestCa(subject = "rter test CA"): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "rter-tls-"));
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "2",
      "-subj",
      `/CN=${subject}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
    ],
    dir,
  );
  const caFile = join(dir, "ca.crt");
  return {
    dir,
    caFile,
    caPem: readFileSync(caFile, "utf8"),
    issue(name, sans, opts = {}) {
      openssl(
        [
          "req",
          "-new",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-subj",
          `/CN=${name}`,
          "-keyout",
          `${name}.key`,
          "-out",
          `${name}.csr`,
        ],
        dir,
      );
      writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${sans.join(",")}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
      openssl(
        [
          "x509",
          "-req",
          "-in",
          `${name}.csr`,
          "-CA",
          "ca.crt",
          "-CAkey",
          "ca.key",
          "-CAcreateserial",
          "-days",
          String(opts.days ?? 2),
          "-extfile",
          `${name}.ext`,
          "-out",
          `${name}.crt`,
        ],
        dir,
      );
      return { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
    },
  };
}
