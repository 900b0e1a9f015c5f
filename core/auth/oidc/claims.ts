import type { ClaimRoleMapping, OidcConfig } from "../../config/oidc.ts";
import type { UserRole } from "../../config/ldap.ts";

/**
 * What rter takes from a provider's claims, as pure functions: the values of the role claim, the
 * role they map to, a usable email, and whether a second factor was used. Claims come from
 * another system and may hold anything (markup, megabytes, wrong types): only strings of sane
 * length are looked at, and only a bounded number of them.
 */

const ROLE_RANK: Record<UserRole, number> = { admin: 4, operator: 3, viewer: 2, reporter: 1 };
const MAX_VALUES = 1000;
const MAX_VALUE_LENGTH = 1024;

/** The role claim's values: a string or a list of strings, found by a dotted path. Anything else is no value. */
export function claimValues(claims: Record<string, unknown>, path: string, max = MAX_VALUES): string[] {
  let v: unknown = claims;
  for (const part of path.split(".")) {
    if (!v || typeof v !== "object" || Array.isArray(v) || !Object.hasOwn(v, part)) return [];
    v = (v as Record<string, unknown>)[part];
  }
  const list = Array.isArray(v) ? v.slice(0, max) : [v];
  return list.filter((x): x is string => typeof x === "string" && x.length > 0 && x.length <= MAX_VALUE_LENGTH);
}

/** The highest role the values grant, and which values granted one; role null = none mapped. */
export function roleFromClaims(map: readonly ClaimRoleMapping[], values: readonly string[]): { role: UserRole | null; matched: string[] } {
  let role: UserRole | null = null;
  const matched: string[] = [];
  const have = new Set(values);
  for (const m of map) {
    if (!have.has(m.value)) continue;
    matched.push(m.value);
    if (!role || ROLE_RANK[m.role] > ROLE_RANK[role]) role = m.role;
  }
  return { role, matched };
}

const EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * The email an account shows: the provider's `email` claim when it is a plain address (the
 * WHATWG form's rule: no markup, no spaces, no quotes), else one made from the subject and the
 * issuer's host. It labels the account; it never links one (the issuer and subject do).
 */
export function accountEmail(claims: Record<string, unknown>, cfg: Pick<OidcConfig, "issuer">): string {
  const e = claims.email;
  if (typeof e === "string" && e.length <= 254 && EMAIL.test(e)) return e.toLowerCase();
  const sub = String(claims.sub);
  const host = new URL(cfg.issuer).hostname.replace(/^\[|\]$/g, "").replace(/[^A-Za-z0-9.-]/g, "-") || "oidc";
  const local = /^[A-Za-z0-9._-]{1,64}$/.test(sub) ? sub.toLowerCase() : `oidc-${new Bun.CryptoHasher("sha256").update(sub).digest("hex").slice(0, 20)}`;
  return `${local}@${host}`;
}

// RFC 8176 method references that are a factor beyond a password, and ADFS's own for "MFA done".
const SECOND_FACTORS = new Set([
  "mfa",
  "otp",
  "hwk",
  "swk",
  "sms",
  "tel",
  "fpt",
  "face",
  "iris",
  "retina",
  "vbm",
  "sc",
  "pop",
  "http://schemas.microsoft.com/claims/multipleauthn",
]);

/** The provider says a second factor was used (`amr`): "mfa", or a method beyond the password. */
export function usedSecondFactor(claims: Record<string, unknown>): boolean {
  const amr = claims.amr;
  return Array.isArray(amr) && amr.some((m) => typeof m === "string" && SECOND_FACTORS.has(m));
}

/** At most `n` values, each clipped, for an audit entry. */
export function forAudit(values: readonly string[], n = 20): string[] {
  return values.slice(0, n).map((v) => (v.length > 200 ? `${v.slice(0, 200)}…` : v));
}
