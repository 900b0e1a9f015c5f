import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * The half-finished sign-in between "go to the provider" and its callback, kept in the browser
 * that started it: state, nonce and PKCE verifier in an HttpOnly cookie, MACed with the session
 * key so it cannot be made up, and bound to that browser, so a callback URL pushed into another
 * browser (login CSRF) finds no matching state there.
 */
export interface PendingSignIn {
  state: string;
  nonce: string;
  verifier: string;
  /** Same-origin path the browser lands on after sign-in. */
  returnTo: string;
  /** Epoch ms after which the callback is refused. */
  expiresAt: number;
}

export const FLOW_COOKIE = "rter_oidc";
export const FLOW_TTL_MS = 10 * 60_000;

function mac(key: Uint8Array, payload: string): Buffer {
  return createHmac("sha256", key).update("rter-oidc-flow\0").update(payload).digest();
}

export function sealFlow(key: Uint8Array, p: PendingSignIn): string {
  const payload = Buffer.from(JSON.stringify(p)).toString("base64url");
  return `${payload}.${mac(key, payload).toString("base64url")}`;
}

/** The pending sign-in, or why there is none usable ("missing", "forged", "expired"). */
export function openFlow(key: Uint8Array, value: string | null, now = Date.now()): PendingSignIn | "missing" | "forged" | "expired" {
  if (!value) return "missing";
  const [payload, sig, extra] = value.split(".");
  if (!payload || !sig || extra !== undefined || value.length > 4096) return "forged";
  const want = mac(key, payload);
  const got = Buffer.from(sig, "base64url");
  if (got.length !== want.length || !timingSafeEqual(got, want)) return "forged";
  let p: PendingSignIn;
  try {
    p = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as PendingSignIn;
  } catch {
    return "forged";
  }
  if (
    typeof p.state !== "string" ||
    typeof p.nonce !== "string" ||
    typeof p.verifier !== "string" ||
    typeof p.returnTo !== "string" ||
    typeof p.expiresAt !== "number"
  )
    return "forged";
  return p.expiresAt < now ? "expired" : p;
}

/** A path on this site only: "/console?x" yes; "//evil", "https://evil", "/\\evil" and anything odd fall back to "/". */
export function safeReturnTo(v: string | null | undefined): string {
  if (!v || v.length > 512 || !v.startsWith("/") || v.startsWith("//") || /[\\\u0000-\u001f\u007f]/.test(v)) return "/";
  try {
    const u = new URL(v, "http://rter.invalid");
    return u.origin === "http://rter.invalid" ? `${u.pathname}${u.search}${u.hash}` : "/";
  } catch {
    return "/";
  }
}

/** The value of one cookie of a request, or null. */
export function cookieValue(request: Request, name: string): string | null {
  const header = request.headers.get("cookie");
  if (!header) return null;
  for (const part of header.split(";")) {
    const at = part.indexOf("=");
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return null;
}
