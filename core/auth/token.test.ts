import { describe, expect, test } from "bun:test";
import { isSessionToken, looksLikeToken, newToken, signSession, verifySession } from "./token.ts";
import { roleCovers } from "./guards.ts";

const key = crypto.getRandomValues(new Uint8Array(32));
const claims = { sessionId: crypto.randomUUID(), issuedAt: new Date(), expiresAt: new Date(Date.now() + 3_600_000) };

describe("signed session tokens", () => {
  test("round trip; shaped like every rter token, never like an API token", () => {
    const t = signSession(key, claims);
    expect(looksLikeToken(t)).toBe(true);
    expect(t).toMatch(/^rter_[\w-]+$/);
    expect(isSessionToken(t)).toBe(true);
    expect(isSessionToken(newToken())).toBe(false);
    const v = verifySession(key, t);
    expect(v).toMatchObject({ sessionId: claims.sessionId });
  });
  test("a flipped bit, another key or an expired token is refused without the database", () => {
    const t = signSession(key, claims);
    const flipped = t.slice(0, 10) + (t[10] === "A" ? "B" : "A") + t.slice(11);
    expect(verifySession(key, flipped)).toBeNull();
    expect(verifySession(crypto.getRandomValues(new Uint8Array(32)), t)).toBeNull();
    expect(verifySession(key, signSession(key, { ...claims, expiresAt: new Date(Date.now() - 1000) }))).toBe("expired");
  });
});

describe("roleCovers", () => {
  test("admin > operator > {reporter, viewer}; reporter and viewer are not ordered", () => {
    expect(roleCovers("admin", "operator")).toBe(true);
    expect(roleCovers("operator", "reporter")).toBe(true);
    expect(roleCovers("operator", "admin")).toBe(false);
    expect(roleCovers("reporter", "viewer")).toBe(false);
    expect(roleCovers("viewer", "reporter")).toBe(false);
  });
});
