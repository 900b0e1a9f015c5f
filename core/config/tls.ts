import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";

/** PEM text of the HTTP listener's certificate chain and its private key. */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

/**
 * --tls-cert and --tls-key, read and checked once at start: both or neither, readable, PEM, the
 * key belonging to the certificate and the certificate valid now. A wrong file then stops the
 * process with one line naming it, instead of every handshake failing later with a TLS alert.
 * Throws an Error whose message starts with the flag.
 */
export function loadTlsFiles(certPath: string | undefined, keyPath: string | undefined, now = new Date()): TlsFiles | null {
  if (certPath === undefined && keyPath === undefined) return null;
  if (certPath === undefined) throw new Error("--tls-key: needs --tls-cert (the certificate it belongs to)");
  if (keyPath === undefined) throw new Error("--tls-cert: needs --tls-key (the certificate's private key)");
  const cert = readPem(certPath, "--tls-cert");
  const key = readPem(keyPath, "--tls-key");
  let x509: X509Certificate;
  try {
    // The first certificate of the chain is the listener's own.
    x509 = new X509Certificate(cert);
  } catch (e) {
    throw new Error(`--tls-cert: ${certPath} holds no PEM certificate (${firstLine(e)})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    throw new Error(`--tls-key: ${keyPath} holds no unencrypted PEM private key (${firstLine(e)})`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new Error(`--tls-key: ${keyPath} is not the private key of the certificate in ${certPath}`);
  if (new Date(x509.validTo) < now) throw new Error(`--tls-cert: the certificate in ${certPath} expired on ${new Date(x509.validTo).toISOString()}`);
  if (new Date(x509.validFrom) > now)
    throw new Error(`--tls-cert: the certificate in ${certPath} is valid only from ${new Date(x509.validFrom).toISOString()}`);
  return { cert, key };
}

function readPem(path: string, flag: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`${flag}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? firstLine(e)}`);
  }
  if (!text.includes("-----BEGIN ")) throw new Error(`${flag}: ${path} is not a PEM file`);
  return text;
}

function firstLine(e: unknown): string {
  return String((e as Error).message ?? e).split("\n")[0]!;
}
