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

/*
 * Session tokens are signed, so any API node can check them without shared memory: TOKEN_PREFIX +
 * base64url(version 1 | session id 16 | issued-at u32 | expires-at u32 | HMAC-SHA256 32), 57 bytes.
 * The signature and expiry are checked before the database is touched; then one primary-key
 * lookup of the session row answers "revoked, idle or disabled?". API tokens stay opaque
 * random strings (32 bytes) looked up by hash, so the two never look alike.
 */
const SESSION_VERSION = 1;
const SESSION_BYTES = 1 + 16 + 4 + 4 + 32;

export interface SessionClaims {
  sessionId: string;
  issuedAt: Date;
  expiresAt: Date;
}

function uuidBytes(id: string): Uint8Array {
  return Uint8Array.from(Buffer.from(id.replace(/-/g, ""), "hex"));
}

function bytesUuid(b: Uint8Array): string {
  const h = Buffer.from(b).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function mac(key: Uint8Array, body: Uint8Array): Uint8Array {
  return new Bun.CryptoHasher("sha256", key).update(body).digest() as Uint8Array;
}

export function signSession(key: Uint8Array, c: SessionClaims): string {
  const buf = new Uint8Array(SESSION_BYTES);
  const view = new DataView(buf.buffer);
  buf[0] = SESSION_VERSION;
  buf.set(uuidBytes(c.sessionId), 1);
  view.setUint32(17, Math.floor(c.issuedAt.getTime() / 1000));
  view.setUint32(21, Math.floor(c.expiresAt.getTime() / 1000));
  buf.set(mac(key, buf.subarray(0, 25)), 25);
  return TOKEN_PREFIX + Buffer.from(buf).toString("base64url");
}

/** True for strings shaped like a session token (not whether it is valid). */
export function isSessionToken(token: string): boolean {
  return token.length === TOKEN_PREFIX.length + Math.ceil((SESSION_BYTES * 4) / 3);
}

/** The claims of an authentic, unexpired session token; null for anything else. */
export function verifySession(key: Uint8Array, token: string, now = Date.now()): SessionClaims | "expired" | null {
  if (!isSessionToken(token) || !token.startsWith(TOKEN_PREFIX)) return null;
  const buf = new Uint8Array(Buffer.from(token.slice(TOKEN_PREFIX.length), "base64url"));
  if (buf.length !== SESSION_BYTES || buf[0] !== SESSION_VERSION) return null;
  const expected = mac(key, buf.subarray(0, 25));
  if (!crypto.timingSafeEqual(expected, buf.subarray(25))) return null;
  const view = new DataView(buf.buffer, buf.byteOffset);
  const expiresAt = new Date(view.getUint32(21) * 1000);
  if (expiresAt.getTime() <= now) return "expired";
  return { sessionId: bytesUuid(buf.subarray(1, 17)), issuedAt: new Date(view.getUint32(17) * 1000), expiresAt };
}
