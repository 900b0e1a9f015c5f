import { readFileSync } from "node:fs";
import { USER_ROLES, type UserRole } from "./ldap.ts";
import { parseDuration, parseUrl } from "./parse.ts";

/** One value of the role claim and the rter role it gives. */
export interface ClaimRoleMapping {
  /** Exactly as the provider sends it (a group name, an object id, an app role). */
  value: string;
  role: UserRole;
}

/** Sign-in through an OpenID Connect provider; null in Config when --oidc-issuer is unset. */
export interface OidcConfig {
  /** The provider's issuer identifier; its discovery document is read from it. */
  readonly issuer: string;
  readonly clientId: string;
  /** Confidential client: the secret, read from --oidc-client-secret-file or --oidc-client-secret. */
  readonly clientSecret: string;
  /** Where the provider sends the browser back (registered at the provider). */
  readonly redirectUrl: string;
  /** Where the provider sends the browser after RP-initiated logout (registered too). */
  readonly postLogoutUrl: string;
  /** Scopes asked for; openid always, offline_access so the session can be re-checked by refresh. */
  readonly scopes: readonly string[];
  /** The claim holding groups or roles; a dot walks into objects (realm_access.roles). */
  readonly roleClaim: string;
  readonly roleMap: readonly ClaimRoleMapping[];
  /** A session's groups are read again (refresh grant) on its first request after this long. */
  readonly recheckMs: number;
  /** Bound on every request to the provider (discovery, token, refresh, revocation). */
  readonly timeoutMs: number;
  /** Short label for the sign-in button. */
  readonly displayName: string;
  /**
   * Group overage (Entra ID): the ID token names a claim source (`_claim_names`) instead of
   * carrying the role claim. follow = fetch it from the source's endpoint; refuse = refuse the sign-in.
   */
  readonly groupOverage: "follow" | "refuse";
}

export function parseGroupOverage(v: string): "follow" | "refuse" {
  if (v !== "follow" && v !== "refuse") throw new Error(`must be follow or refuse, got "${v}"`);
  return v;
}

/** `value=role;value=role`: a value may hold '=' itself (an ADFS DN), so the role follows the last '='. */
export function parseClaimRoleMap(v: string): ClaimRoleMapping[] {
  const out: ClaimRoleMapping[] = [];
  for (const part of v
    .split(";")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const at = part.lastIndexOf("=");
    const value = part.slice(0, at).trim();
    const role = part.slice(at + 1).trim();
    if (at <= 0 || !value) throw new Error(`"${part}" is not CLAIM_VALUE=role`);
    if (!(USER_ROLES as readonly string[]).includes(role)) throw new Error(`role must be one of ${USER_ROLES.join(", ")}, got "${role}" for ${value}`);
    out.push({ value, role: role as UserRole });
  }
  if (out.length === 0) throw new Error("needs at least one CLAIM_VALUE=role");
  return out;
}

/** A claim name or dotted path of plain names (no brackets, no wildcards). */
export function parseRoleClaim(v: string): string {
  if (!/^[A-Za-z0-9_:/.-]{1,200}$/.test(v) || v.split(".").some((p) => p === ""))
    throw new Error(`"${v}" is not a claim name (letters, digits, _ : / - and dots between names)`);
  return v;
}

export function parseOidcRecheck(v: string): number {
  const ms = parseDuration(v);
  if (ms < 1000 || ms > 900_000) throw new Error("must be between 1s and 15m (a user removed from a group loses access within it)");
  return ms;
}

export function parseScopes(v: string): string[] {
  const out = v.split(/[\s,]+/).filter(Boolean);
  for (const s of out) if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s)) throw new Error(`"${s}" is not a scope token (RFC 6749 §3.3)`);
  if (!out.includes("openid")) out.unshift("openid");
  return out;
}

function readSecretFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`--oidc-client-secret-file: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const secret = text.replace(/\r?\n$/, "");
  if (!secret || /[\r\n]/.test(secret)) throw new Error(`--oidc-client-secret-file: ${path} must hold the secret on one line`);
  return secret;
}

/** The OIDC section from raw settings (already checked one by one); cross-field rules and the secret file here. */
export function buildOidcConfig(get: (flag: string) => string | undefined, publicUrl: string): OidcConfig | null {
  const issuer = get("oidc-issuer");
  if (!issuer) {
    for (const f of ["oidc-client-id", "oidc-role-map", "oidc-client-secret-file", "oidc-client-secret"])
      if (get(f)) throw new Error(`--${f}: needs --oidc-issuer`);
    return null;
  }
  const u = parseUrl(issuer, ["https:", "http:"]);
  if (u.search || u.hash) throw new Error(`--oidc-issuer: an issuer has no query or fragment, got "${issuer}"`);
  const need = (flag: string) => {
    const v = get(flag);
    if (!v) throw new Error(`--${flag}: needed with --oidc-issuer`);
    return v;
  };
  const file = get("oidc-client-secret-file");
  const inline = get("oidc-client-secret");
  if (file && inline) throw new Error("--oidc-client-secret-file: give it or --oidc-client-secret, not both");
  if (!file && !inline) throw new Error("--oidc-client-secret-file: needed with --oidc-issuer (or --oidc-client-secret)");
  const redirectUrl = get("oidc-redirect-url") ?? `${publicUrl}/api/v1/auth/oidc/callback`;
  parseUrl(redirectUrl, ["https:", "http:"]);
  const postLogoutUrl = get("oidc-post-logout-url") ?? `${publicUrl}/`;
  parseUrl(postLogoutUrl, ["https:", "http:"]);
  return {
    // Kept exactly as written: the ID token's iss must equal it, trailing slash included.
    issuer,
    clientId: need("oidc-client-id"),
    clientSecret: file ? readSecretFile(file) : inline!,
    redirectUrl,
    postLogoutUrl,
    scopes: parseScopes(get("oidc-scopes") ?? "openid email profile offline_access"),
    roleClaim: parseRoleClaim(get("oidc-role-claim") ?? "groups"),
    roleMap: parseClaimRoleMap(need("oidc-role-map")),
    recheckMs: parseOidcRecheck(get("oidc-recheck") ?? "5m"),
    timeoutMs: parseDuration(get("oidc-timeout") ?? "5s"),
    displayName: (get("oidc-name") ?? "your organisation").slice(0, 60),
    groupOverage: parseGroupOverage(get("oidc-group-overage") ?? "follow"),
  };
}
