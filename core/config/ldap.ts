import { parseDuration, parseUrl } from "./parse.ts";

/** rter's roles, as a directory group may grant them (the auth module owns their meaning). */
export const USER_ROLES = ["admin", "operator", "reporter", "viewer"] as const;
export type UserRole = (typeof USER_ROLES)[number];

/** One directory group and the rter role its members get. */
export interface RoleMapping {
  /** As written in --ldap-role-map. */
  groupDn: string;
  role: UserRole;
}

/** Sign-in against LDAP / Active Directory; null in Config when --ldap-url is unset. */
export interface LdapConfig {
  /** ldap:// or ldaps:// (host and port only). */
  readonly url: string;
  /** The service account that searches for users and reads groups. */
  readonly bindDn: string;
  readonly bindPassword: string;
  /** Where users are searched (subtree). */
  readonly userBase: string;
  /** Search filter with {username} (RFC 4515-escaped before it goes in). */
  readonly userFilter: string;
  readonly roleMap: readonly RoleMapping[];
  /** PEM file of the CA that signed the directory's certificate; null = the system's CAs. */
  readonly caFile: string | null;
  /** Upgrade an ldap:// connection with StartTLS before any bind. */
  readonly startTls: boolean;
  /** A directory account's groups and state are re-read once this old (at most 5 min). */
  readonly cacheMs: number;
  /** Bound on connecting and on each LDAP operation. */
  readonly timeoutMs: number;
  /** How membership through groups inside groups is found. */
  readonly nested: NestedGroups;
}

/**
 * `direct`: only the groups the entry itself is a member of. `in-chain`: Active Directory's
 * LDAP_MATCHING_RULE_IN_CHAIN, one base search per mapped group (the directory walks the chain).
 * `walk`: rter walks up from the entry under `groupBase`, breadth first, at most `maxDepth`
 * levels and `maxGroups` groups (any directory: OpenLDAP, 389-DS, FreeIPA, AD).
 */
export interface NestedGroups {
  readonly mode: "direct" | "in-chain" | "walk";
  /** Where the walk searches groups (subtree); null unless mode is walk. */
  readonly groupBase: string | null;
  /** Levels of groups above the entry: 1 = the groups it is directly in. */
  readonly maxDepth: number;
  /** Groups the walk may visit before it stops (what it found by then still counts). */
  readonly maxGroups: number;
}

export const NESTED_MODES = ["direct", "in-chain", "walk"] as const;

export function parseNestedMode(v: string): NestedGroups["mode"] {
  if (!(NESTED_MODES as readonly string[]).includes(v)) throw new Error(`must be one of ${NESTED_MODES.join(", ")}, got "${v}"`);
  return v as NestedGroups["mode"];
}

function intIn(v: string, min: number, max: number): number {
  if (!/^[0-9]{1,6}$/.test(v) || Number(v) < min || Number(v) > max) throw new Error(`must be a whole number from ${min} to ${max}, got "${v}"`);
  return Number(v);
}

export const parseNestedDepth = (v: string) => intIn(v, 1, 32);
export const parseNestedMaxGroups = (v: string) => intIn(v, 1, 5000);

/** `GROUP_DN=role;GROUP_DN=role`: a DN holds '=' itself, so the role is what follows the last '='. */
export function parseRoleMap(v: string): RoleMapping[] {
  const out: RoleMapping[] = [];
  for (const part of v
    .split(";")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const at = part.lastIndexOf("=");
    const groupDn = part.slice(0, at).trim();
    const role = part.slice(at + 1).trim();
    if (at <= 0 || !groupDn.includes("=")) throw new Error(`"${part}" is not GROUP_DN=role`);
    if (!(USER_ROLES as readonly string[]).includes(role)) throw new Error(`role must be one of ${USER_ROLES.join(", ")}, got "${role}" for ${groupDn}`);
    out.push({ groupDn, role: role as UserRole });
  }
  if (out.length === 0) throw new Error("needs at least one GROUP_DN=role");
  return out;
}

export function parseUserFilter(v: string): string {
  if (!v.includes("{username}")) throw new Error("must contain {username}");
  if (!v.startsWith("(") || !v.endsWith(")")) throw new Error(`must be a parenthesised LDAP filter, got "${v}"`);
  let depth = 0;
  for (const ch of v.replace(/\\./g, "")) {
    depth += ch === "(" ? 1 : ch === ")" ? -1 : 0;
    if (depth < 0) break;
  }
  if (depth !== 0) throw new Error(`unbalanced parentheses in "${v}"`);
  return v;
}

export function parseLdapCache(v: string): number {
  const ms = parseDuration(v);
  if (ms < 1000 || ms > 300_000) throw new Error("must be between 1s and 5m (a user removed from a group loses access within it)");
  return ms;
}

export function parseBool(v: string): boolean {
  if (v === "true") return true;
  if (v === "false") return false;
  throw new Error(`must be true or false, got "${v}"`);
}

/** The LDAP section from raw settings (already checked one by one); cross-field rules here. */
export function buildLdapConfig(get: (flag: string) => string | undefined): LdapConfig | null {
  const url = get("ldap-url");
  if (!url) return null;
  const u = parseUrl(url, ["ldap:", "ldaps:"]);
  const need = (flag: string) => {
    const v = get(flag);
    if (!v) throw new Error(`--${flag}: needed with --ldap-url`);
    return v;
  };
  const startTls = parseBool(get("ldap-starttls") ?? "false");
  if (startTls && u.protocol === "ldaps:") throw new Error("--ldap-starttls: only with ldap:// (ldaps:// is TLS from the start)");
  return {
    url: `${u.protocol}//${u.host}`,
    bindDn: need("ldap-bind-dn"),
    bindPassword: need("ldap-bind-password"),
    userBase: need("ldap-user-base"),
    userFilter: parseUserFilter(get("ldap-user-filter") ?? "(uid={username})"),
    roleMap: parseRoleMap(need("ldap-role-map")),
    caFile: get("ldap-ca-file") ?? null,
    startTls,
    cacheMs: parseLdapCache(get("ldap-cache") ?? "5m"),
    timeoutMs: parseDuration(get("ldap-timeout") ?? "5s"),
    nested: buildNested(get),
  };
}

function buildNested(get: (flag: string) => string | undefined): NestedGroups {
  const mode = parseNestedMode(get("ldap-nested-groups") ?? "direct");
  const groupBase = get("ldap-group-base") ?? null;
  if (mode === "walk" && !groupBase) throw new Error("--ldap-group-base: needed with --ldap-nested-groups walk (the subtree where groups are searched)");
  return {
    mode,
    groupBase: mode === "walk" ? groupBase : null,
    maxDepth: parseNestedDepth(get("ldap-nested-depth") ?? "8"),
    maxGroups: parseNestedMaxGroups(get("ldap-nested-max-groups") ?? "500"),
  };
}

/** --mfa-required: comma list of roles that must pass a second factor at sign-in, or none. */
export function parseMfaRoles(v: string): UserRole[] {
  if (v.trim() === "none") return [];
  const out: UserRole[] = [];
  for (const p of v
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean)) {
    if (!(USER_ROLES as readonly string[]).includes(p)) throw new Error(`unknown role "${p}" (roles: ${USER_ROLES.join(", ")}, or none)`);
    if (!out.includes(p as UserRole)) out.push(p as UserRole);
  }
  if (out.length === 0) throw new Error("needs roles (e.g. admin,operator) or none");
  return out;
}
