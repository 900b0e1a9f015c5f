import { describe, expect, test } from "bun:test";
import { cookieValue, openFlow, safeReturnTo, sealFlow, type PendingSignIn } from "./flow.ts";

const key = new Uint8Array(32).fill(7);
const other = new Uint8Array(32).fill(8);
const pending: PendingSignIn = { state: "s", nonce: "n", verifier: "v", returnTo: "/console", expiresAt: Date.now() + 60_000 };

describe("the OIDC flow cookie", () => {
  test("opens with the key that sealed it; altered, foreign, truncated or expired cookies do not", () => {
    const sealed = sealFlow(key, pending);
    expect(openFlow(key, sealed)).toEqual(pending);
    expect(openFlow(other, sealed)).toBe("forged");
    const [payload, sig] = sealed.split(".");
    const altered = Buffer.from(JSON.stringify({ ...pending, state: "attacker" })).toString("base64url");
    expect(openFlow(key, `${altered}.${sig}`)).toBe("forged");
    expect(openFlow(key, payload!)).toBe("forged");
    expect(openFlow(key, `${sealed}.x`)).toBe("forged");
    expect(openFlow(key, "x".repeat(5000))).toBe("forged");
    expect(openFlow(key, null)).toBe("missing");
    expect(openFlow(key, sealFlow(key, { ...pending, expiresAt: Date.now() - 1 }))).toBe("expired");
  });

  test("return_to stays on this site", () => {
    expect(safeReturnTo("/console?w=1#x")).toBe("/console?w=1#x");
    for (const bad of [
      "//evil.test/x",
      "https://evil.test",
      "/\\evil.test",
      "javascript:alert(1)",
      "console",
      "/\u0000x",
      "",
      null,
      undefined,
      `/${"a".repeat(600)}`,
    ])
      expect(safeReturnTo(bad)).toBe("/");
    expect(safeReturnTo("/../../x")).toBe("/x");
  });

  test("cookieValue finds one cookie among many", () => {
    const r = new Request("http://x/", { headers: { cookie: "a=1; rter_oidc=abc.def; b=2" } });
    expect(cookieValue(r, "rter_oidc")).toBe("abc.def");
    expect(cookieValue(r, "rter")).toBeNull();
  });
});
