import { describe, expect, test } from "bun:test";
import { parseRoleMap } from "../../config/ldap.ts";
import { escapeFilterValue, normalizeDn, roleFor } from "./ldap.ts";

describe("escapeFilterValue (RFC 4515)", () => {
  test("every filter metacharacter becomes its \\XX form; nothing else changes", () => {
    expect(escapeFilterValue("*")).toBe("\\2a");
    expect(escapeFilterValue("a)(uid=*")).toBe("a\\29\\28uid=\\2a");
    expect(escapeFilterValue("back\\slash")).toBe("back\\5cslash");
    expect(escapeFilterValue("nul\u0000")).toBe("nul\\00");
    expect(escapeFilterValue("Jürgen O'Neil")).toBe("Jürgen O'Neil");
    // Already-escaped input is escaped again, never interpreted.
    expect(escapeFilterValue("\\2a")).toBe("\\5c2a");
  });
  test("no escaped value can open or close a filter component", () => {
    for (const s of ["*)(|(uid=*", "((((", "))))", "\\", "*\u0000*"]) expect(escapeFilterValue(s)).not.toMatch(/[()*\u0000]/);
  });
});

describe("role map", () => {
  test("GROUP_DN=role; the role is after the last '='; the highest mapped role wins", () => {
    const cfg = {
      roleMap: parseRoleMap("CN=EOC-Operators,OU=Groups,DC=city,DC=gov=operator; CN=EOC-Admins,OU=Groups,DC=city,DC=gov=admin;cn=viewers,dc=x=viewer"),
    };
    expect(cfg.roleMap.map((m) => m.role)).toEqual(["operator", "admin", "viewer"]);
    expect(roleFor(cfg, [cfg.roleMap[0]!.groupDn, cfg.roleMap[1]!.groupDn])).toBe("admin");
    expect(roleFor(cfg, [cfg.roleMap[2]!.groupDn])).toBe("viewer");
    expect(roleFor(cfg, [])).toBeNull();
    expect(() => parseRoleMap("")).toThrow();
    expect(() => parseRoleMap("operator")).toThrow();
    expect(() => parseRoleMap("cn=x=root")).toThrow(/role must be/);
  });
  test("DNs compare without regard to case or spaces around separators", () => {
    expect(normalizeDn("CN=EOC Ops, OU=Groups ,DC=City")).toBe(normalizeDn("cn=eoc ops,ou=groups,dc=city"));
  });
});
