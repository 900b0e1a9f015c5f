import { describe, expect, test } from "bun:test";
import { parseClaimRoleMap } from "../../config/oidc.ts";
import { accountEmail, claimValues, forAudit, roleFromClaims, usedSecondFactor } from "./claims.ts";

const map = parseClaimRoleMap("eoc-admins=admin;eoc-operators=operator;CN=Viewers,OU=Groups,DC=city=viewer");
const cfg = { issuer: "https://login.city.test/realms/eoc" };

describe("OIDC claims", () => {
  test("the role claim is a list or a string, found by a dotted path; other types are no value", () => {
    expect(claimValues({ groups: ["a", "b"] }, "groups")).toEqual(["a", "b"]);
    expect(claimValues({ groups: "a" }, "groups")).toEqual(["a"]);
    expect(claimValues({ realm_access: { roles: ["x"] } }, "realm_access.roles")).toEqual(["x"]);
    for (const v of [7, null, { a: 1 }, [1, null, {}], true, ""]) expect(claimValues({ groups: v }, "groups")).toEqual([]);
    expect(claimValues({}, "groups")).toEqual([]);
    // An inherited property is not a claim.
    expect(claimValues({}, "constructor")).toEqual([]);
    expect(claimValues({ a: "x" }, "a.b")).toEqual([]);
  });

  test("huge claims are bounded: at most 1000 values, each at most 1 KiB", () => {
    const many = Array.from({ length: 50_000 }, (_, i) => `g${i}`);
    expect(claimValues({ groups: many }, "groups")).toHaveLength(1000);
    expect(claimValues({ groups: ["x".repeat(2000), "ok"] }, "groups")).toEqual(["ok"]);
  });

  test("the highest mapped role wins; values are matched exactly (no case folding, no substrings)", () => {
    expect(roleFromClaims(map, ["eoc-operators", "eoc-admins"])).toEqual({ role: "admin", matched: ["eoc-admins", "eoc-operators"] });
    expect(roleFromClaims(map, ["CN=Viewers,OU=Groups,DC=city"]).role).toBe("viewer");
    expect(roleFromClaims(map, ["EOC-ADMINS", "eoc-admins-not", " eoc-admins"]).role).toBeNull();
    expect(roleFromClaims(map, []).role).toBeNull();
  });

  test("the email claim is used only when it is a plain address; else one is made from sub and the issuer's host", () => {
    expect(accountEmail({ sub: "u1", email: "Alice@City.test" }, cfg)).toBe("alice@city.test");
    for (const bad of ["<script>alert(1)</script>@x.test", "a b@x.test", `${"a".repeat(300)}@x.test`, "a@b@c", '"q"@x.test', 5, null, "a@-x.test"]) {
      expect(accountEmail({ sub: "u1", email: bad }, cfg)).toBe("u1@login.city.test");
    }
    const odd = accountEmail({ sub: "<b>hi</b> \u0000" }, cfg);
    expect(odd).toMatch(/^oidc-[0-9a-f]{20}@login\.city\.test$/);
  });

  test("a second factor is what amr says beyond a password", () => {
    expect(usedSecondFactor({ amr: ["pwd", "mfa"] })).toBe(true);
    expect(usedSecondFactor({ amr: ["pwd", "otp"] })).toBe(true);
    expect(usedSecondFactor({ amr: ["http://schemas.microsoft.com/claims/multipleauthn"] })).toBe(true);
    expect(usedSecondFactor({ amr: ["pwd"] })).toBe(false);
    expect(usedSecondFactor({ amr: "mfa" })).toBe(false);
    expect(usedSecondFactor({})).toBe(false);
  });

  test("audit details keep at most 20 values of at most 200 characters", () => {
    const out = forAudit(Array.from({ length: 30 }, () => "y".repeat(500)));
    expect(out).toHaveLength(20);
    expect(out[0]!.length).toBe(201);
  });
});

describe("--oidc-role-map", () => {
  test("values may hold '=' (the role follows the last one); bad roles and empty maps are refused", () => {
    expect(parseClaimRoleMap("a=b=admin")).toEqual([{ value: "a=b", role: "admin" }]);
    expect(() => parseClaimRoleMap("x=root")).toThrow(/role must be one of/);
    expect(() => parseClaimRoleMap(";;")).toThrow(/at least one/);
    expect(() => parseClaimRoleMap("=admin")).toThrow(/not CLAIM_VALUE=role/);
  });
});
