/** Bearer tokens: 32 random bytes, prefixed so they are recognisable in leaks and logs scanners. */
export const TOKEN_PREFIX = "rter_";

export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return TOKEN_PREFIX + Buffer.from(bytes).toString("base64url");
}

/** Only this hash is stored. SHA-256 (not argon2) is right here: the token already has 256 bits of entropy. */
export function hashToken(token: string): Buffer {
  return Buffer.from(new Bun.CryptoHasher("sha256").update(token).digest());
}

export function looksLikeToken(s: string): boolean {
  return s.length > TOKEN_PREFIX.length + 20 && s.length < 200 && s.startsWith(TOKEN_PREFIX) && /^[A-Za-z0-9_-]+$/.test(s);
}
