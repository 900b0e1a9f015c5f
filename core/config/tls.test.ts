import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTestCa } from "../../test/support/tls.ts";
import { buildConfig, ConfigError } from "./load.ts";
import { loadTlsFiles } from "./tls.ts";

const ca = makeTestCa();
const { certFile, keyFile } = ca.issue("node", ["IP:127.0.0.1", "DNS:localhost"]);
const other = ca.issue("other", ["DNS:other"]);
const notPem = join(ca.dir, "not.pem");
writeFileSync(notPem, "hello\n");
const brokenPem = join(ca.dir, "broken.pem");
writeFileSync(brokenPem, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");

describe("--tls-cert and --tls-key", () => {
  test("neither: plain HTTP", () => {
    expect(loadTlsFiles(undefined, undefined)).toBeNull();
    expect(buildConfig({}, {}).http.tls).toBeNull();
  });

  test("both: the PEM text lands in the typed config, paths relative to the working directory", () => {
    const c = buildConfig({ "tls-cert": "node.crt", "tls-key": keyFile }, {}, {}, ca.dir);
    expect(c.http.tls?.cert).toContain("-----BEGIN CERTIFICATE-----");
    expect(c.http.tls?.key).toContain("PRIVATE KEY-----");
    expect(buildConfig({}, { RTER_TLS_CERT: certFile, RTER_TLS_KEY: keyFile }).http.tls).not.toBeNull();
  });

  const bad: [string, string | undefined, string | undefined, RegExp][] = [
    ["only a certificate", certFile, undefined, /^--tls-cert: needs --tls-key/],
    ["only a key", undefined, keyFile, /^--tls-key: needs --tls-cert/],
    ["a missing file", join(ca.dir, "missing.crt"), keyFile, /^--tls-cert: cannot read .*missing\.crt: ENOENT$/],
    ["not PEM", notPem, keyFile, /^--tls-cert: .*not\.pem is not a PEM file$/],
    ["a broken certificate", brokenPem, keyFile, /^--tls-cert: .*broken\.pem holds no PEM certificate/],
    ["a certificate as the key", certFile, certFile, /^--tls-key: .*node\.crt holds no unencrypted PEM private key/],
    ["another certificate's key", certFile, other.keyFile, /^--tls-key: .*other\.key is not the private key of the certificate in .*node\.crt$/],
  ];
  for (const [name, cert, key, msg] of bad) {
    test(`refused: ${name}, in one line naming the flag`, () => {
      let err: unknown;
      try {
        buildConfig({ ...(cert ? { "tls-cert": cert } : {}), ...(key ? { "tls-key": key } : {}) }, {});
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(msg);
      expect((err as Error).message).not.toContain("\n");
    });
  }

  test("an expired certificate, or one not valid yet, is refused with its date", () => {
    expect(() => loadTlsFiles(certFile, keyFile, new Date(Date.now() + 30 * 86_400_000))).toThrow(/^--tls-cert: the certificate in .* expired on \d{4}-/);
    expect(() => loadTlsFiles(certFile, keyFile, new Date(Date.now() - 2 * 86_400_000))).toThrow(
      /^--tls-cert: the certificate in .* is valid only from \d{4}-/,
    );
  });
});
