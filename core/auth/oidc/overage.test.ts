import { describe, expect, test } from "bun:test";
import { overageRequest, overageSource } from "./overage.ts";

describe("group overage", () => {
  test("the claim source is followed only when the token names one for the role claim and does not carry the claim itself", () => {
    const src = { _claim_names: { groups: "src1" }, _claim_sources: { src1: { endpoint: "https://graph.microsoft.com/v1.0/me/getMemberObjects" } } };
    expect(overageSource(src, "groups")).toEqual({ endpoint: "https://graph.microsoft.com/v1.0/me/getMemberObjects", accessToken: null });
    expect(overageSource({ ...src, groups: ["a"] }, "groups")).toBeNull();
    expect(overageSource(src, "roles")).toBeNull();
    expect(overageSource({ groups: ["a"] }, "groups")).toBeNull();
    // A source that carries its own access token (OIDC Core §5.6.2) is read with that one.
    expect(overageSource({ _claim_names: { groups: "s" }, _claim_sources: { s: { endpoint: "https://x/y", access_token: "t" } } }, "groups")).toEqual({
      endpoint: "https://x/y",
      accessToken: "t",
    });
    // Named but not described, or described by an inherited name: no endpoint (refused later, not thrown).
    expect(overageSource({ _claim_names: { groups: "nope" }, _claim_sources: {} }, "groups")).toEqual({ endpoint: undefined, accessToken: null });
    expect(overageSource({ _claim_names: { groups: "constructor" }, _claim_sources: {} }, "groups")).toEqual({ endpoint: undefined, accessToken: null });
  });

  test("https only (http to loopback for tests); Azure AD Graph's retired endpoint is asked at Microsoft Graph; getMemberObjects is a POST", () => {
    expect(overageRequest("https://graph.windows.net/tenant-id/users/user-oid/getMemberObjects")).toEqual({
      url: new URL("https://graph.microsoft.com/v1.0/users/user-oid/getMemberObjects"),
      method: "POST",
    });
    expect(overageRequest("https://graph.microsoft.com/v1.0/users/u/getMemberObjects")).toMatchObject({ method: "POST" });
    expect(overageRequest("https://claims.city.test/groups")).toMatchObject({ method: "GET" });
    expect(overageRequest("http://127.0.0.1:8080/v1.0/users/u/getMemberObjects")).toMatchObject({ method: "POST" });
    expect(overageRequest("http://[::1]:8080/g")).toMatchObject({ method: "GET" });
    for (const bad of [
      "http://graph.microsoft.com/v1.0/me",
      "ftp://x/y",
      "file:///etc/passwd",
      "javascript:alert(1)",
      "not a url",
      42,
      undefined,
      `https://x/${"a".repeat(3000)}`,
    ])
      expect(overageRequest(bad)).toHaveProperty("refused");
    expect(overageRequest("https://user:pw@graph.microsoft.com/x")).toEqual({ refused: "the token's claim source endpoint carries credentials" });
    // A look-alike host is not rewritten, and not trusted as loopback.
    expect(overageRequest("https://graph.windows.net.evil.test/t/users/u/getMemberObjects")).toMatchObject({
      url: new URL("https://graph.windows.net.evil.test/t/users/u/getMemberObjects"),
    });
    expect(overageRequest("http://127.0.0.1.evil.test/g")).toHaveProperty("refused");
  });
});
