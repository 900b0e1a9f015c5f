import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildConfig, ConfigError } from "./load.ts";

const dir = mkdtempSync(join(tmpdir(), "rter-oidc-config-"));
const secretFile = join(dir, "secret");
writeFileSync(secretFile, "s3cret-value\n");
const base = {
  "oidc-issuer": "https://sso.city.test/realms/city",
  "oidc-client-id": "rter",
  "oidc-client-secret-file": secretFile,
  "oidc-role-map": "eoc-operators=operator",
};

function refusal(flags: Record<string, string>): string {
  try {
    buildConfig(flags, {});
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("accepted");
}

describe("OIDC settings", () => {
  test("a full set is parsed once, with defaults from the public URL", () => {
    const oidc = buildConfig({ ...base, "public-url": "https://rter.city.test" }, {}).security.oidc!;
    expect(oidc).toMatchObject({
      issuer: "https://sso.city.test/realms/city",
      clientSecret: "s3cret-value",
      redirectUrl: "https://rter.city.test/api/v1/auth/oidc/callback",
      postLogoutUrl: "https://rter.city.test/",
      scopes: ["openid", "email", "profile", "offline_access"],
      roleClaim: "groups",
      recheckMs: 300_000,
    });
    expect(buildConfig({}, {}).security.oidc).toBeNull();
    // openid is always asked for.
    expect(buildConfig({ ...base, "oidc-scopes": "email groups" }, {}).security.oidc!.scopes).toEqual(["openid", "email", "groups"]);
  });

  test("each bad value is refused in one line naming the setting", () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ "oidc-client-id": "rter" }, /^--oidc-client-id: needs --oidc-issuer$/],
      [{ ...base, "oidc-issuer": "ftp://x" }, /^--oidc-issuer: /],
      [{ ...base, "oidc-issuer": "https://sso.city.test/?a=1" }, /^--oidc-issuer: an issuer has no query/],
      [{ ...base, "oidc-client-id": "" }, /^--oidc-client-id: needed with --oidc-issuer$/],
      [{ ...base, "oidc-client-secret-file": join(dir, "missing") }, /^--oidc-client-secret-file: cannot read .*ENOENT$/],
      [{ ...base, "oidc-client-secret": "inline" }, /^--oidc-client-secret-file: give it or --oidc-client-secret, not both$/],
      [{ ...base, "oidc-role-map": "eoc=root" }, /^--oidc-role-map: role must be one of/],
      [{ ...base, "oidc-role-claim": "a..b" }, /^--oidc-role-claim: /],
      [{ ...base, "oidc-role-claim": "groups[0]" }, /^--oidc-role-claim: /],
      [{ ...base, "oidc-recheck": "1h" }, /^--oidc-recheck: must be between 1s and 15m/],
      [{ ...base, "oidc-scopes": 'openid "x"' }, /^--oidc-scopes: /],
      [{ ...base, "oidc-redirect-url": "javascript:alert(1)" }, /^--oidc-redirect-url: /],
    ];
    for (const [flags, want] of cases) {
      const msg = refusal(flags);
      expect(msg).toMatch(want);
      expect(msg).not.toContain("\n");
    }
    const twoLines = join(dir, "two-lines");
    writeFileSync(twoLines, "a\nb\n");
    expect(refusal({ ...base, "oidc-client-secret-file": twoLines })).toContain("must hold the secret on one line");
  });
});
