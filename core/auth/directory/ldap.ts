import { readFileSync } from "node:fs";
import { Client, InvalidCredentialsError, NoSuchObjectError, SizeLimitExceededError, type Entry } from "ldapts";
import type { LdapConfig, UserRole } from "../../config/ldap.ts";
import { AppError } from "../../errors.ts";

/**
 * The directory as rter sees it: one entry per person, its state, and which of the mapped groups
 * it is in. Every call opens its own connection (sign-ins and re-checks are rare, a pool would
 * outlive directory restarts badly), bounded by --ldap-timeout.
 */
export interface DirectoryEntry {
  dn: string;
  mail: string | null;
  /** Disabled or locked in the directory (AD userAccountControl, OpenLDAP ppolicy lock, nsAccountLock). */
  disabled: boolean;
  /** The mapped groups (as written in --ldap-role-map) this entry is a member of. */
  groups: string[];
  /** The nested-group walk stopped at a limit before it had seen every group above the entry. */
  walkStopped: "depth" | "count" | null;
}

const ROLE_RANK: Record<UserRole, number> = { admin: 4, operator: 3, viewer: 2, reporter: 1 };
const ATTRIBUTES = ["mail", "userAccountControl", "pwdAccountLockedTime", "nsAccountLock", "memberOf"];
// AD's ACCOUNTDISABLE bit of userAccountControl.
const AD_DISABLED = 0x2;

/** RFC 4515 escaping of a value put into a search filter: no metacharacter of the input survives. */
export function escapeFilterValue(v: string): string {
  return v.replace(/[\\*()\u0000]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** DNs compared loosely: case and spaces around separators do not matter. */
export function normalizeDn(dn: string): string {
  return dn
    .toLowerCase()
    .replace(/\s*([,=+])\s*/g, "$1")
    .trim();
}

/** The highest role any of the groups grants; null = in no mapped group. */
export function roleFor(cfg: Pick<LdapConfig, "roleMap">, groups: readonly string[]): UserRole | null {
  let best: UserRole | null = null;
  for (const m of cfg.roleMap) if (groups.includes(m.groupDn) && (!best || ROLE_RANK[m.role] > ROLE_RANK[best])) best = m.role;
  return best;
}

function unavailable(cause: unknown): AppError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new AppError("unavailable", `the directory (LDAP) is not answering: ${why}`, { retryAfterSeconds: 30 });
}

function tlsOptions(cfg: LdapConfig) {
  return cfg.caFile ? { ca: [readFileSync(cfg.caFile)] } : {};
}

async function connect(cfg: LdapConfig, dn: string, password: string): Promise<Client> {
  // ldapts opens TLS at once whenever tlsOptions are given, so StartTLS gets them only at the upgrade
  // (with the host, which the certificate must name: the socket alone does not tell it).
  const ldaps = cfg.url.startsWith("ldaps:");
  const client = new Client({
    url: cfg.url,
    timeout: cfg.timeoutMs,
    connectTimeout: cfg.timeoutMs,
    ...(ldaps ? { tlsOptions: tlsOptions(cfg) } : {}),
    strictDN: false,
  });
  try {
    if (cfg.startTls) await client.startTLS({ ...tlsOptions(cfg), host: new URL(cfg.url).hostname });
    await client.bind(dn, password);
    return client;
  } catch (e) {
    await client.unbind().catch(() => {});
    throw e;
  }
}

/** Runs fn on a connection bound as the service account; a directory that does not answer is a 503. */
async function asService<T>(cfg: LdapConfig, fn: (c: Client) => Promise<T>): Promise<T> {
  let client: Client;
  try {
    client = await connect(cfg, cfg.bindDn, cfg.bindPassword);
  } catch (e) {
    if (e instanceof InvalidCredentialsError)
      throw new AppError("unavailable", "the directory refused rter's service account (--ldap-bind-dn / --ldap-bind-password)", { retryAfterSeconds: 60 });
    throw unavailable(e);
  }
  try {
    return await fn(client);
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw unavailable(e);
  } finally {
    await client.unbind().catch(() => {});
  }
}

const text = (v: Entry[string] | undefined): string[] =>
  v === undefined ? [] : (Array.isArray(v) ? v : [v]).map((x) => (Buffer.isBuffer(x) ? x.toString("utf8") : String(x)));

async function describe(client: Client, cfg: LdapConfig, entry: Entry): Promise<DirectoryEntry> {
  const uac = Number(text(entry.userAccountControl)[0] ?? 0);
  const disabled =
    (uac & AD_DISABLED) !== 0 || text(entry.pwdAccountLockedTime).length > 0 || text(entry.nsAccountLock).some((v) => v.toLowerCase() === "true");
  const memberOf = new Set(text(entry.memberOf).map(normalizeDn));
  const groups: string[] = [];
  let walkStopped: DirectoryEntry["walkStopped"] = null;
  if (cfg.nested.mode === "walk") {
    const walk = await walkGroups(client, cfg, entry.dn);
    walkStopped = walk.stopped;
    for (const m of cfg.roleMap) if (memberOf.has(normalizeDn(m.groupDn)) || walk.groups.has(normalizeDn(m.groupDn))) groups.push(m.groupDn);
  } else if (cfg.nested.mode === "in-chain") {
    await requireInChain(client, cfg);
    for (const m of cfg.roleMap) if (await isMemberInChain(client, m.groupDn, entry.dn)) groups.push(m.groupDn);
  } else {
    for (const m of cfg.roleMap) {
      if (memberOf.has(normalizeDn(m.groupDn)) || (await isMember(client, m.groupDn, entry.dn))) groups.push(m.groupDn);
    }
  }
  return { dn: entry.dn, mail: text(entry.mail)[0] ?? null, disabled, groups, walkStopped };
}

/** Reads the group itself: OpenLDAP has no memberOf without its overlay, AD has both. */
async function isMember(client: Client, groupDn: string, userDn: string): Promise<boolean> {
  const v = escapeFilterValue(userDn);
  try {
    const r = await client.search(groupDn, { scope: "base", filter: `(|(member=${v})(uniqueMember=${v}))`, attributes: ["1.1"], sizeLimit: 1 });
    return r.searchEntries.length > 0;
  } catch (e) {
    if (e instanceof NoSuchObjectError) return false;
    throw e;
  }
}

/** Active Directory's LDAP_MATCHING_RULE_IN_CHAIN: `member` followed through every level of groups by the directory itself. */
export const IN_CHAIN_RULE = "1.2.840.113556.1.4.1941";

/** The filter a mapped group is read with under in-chain: matches the group when the entry is in it at any depth. */
export function inChainFilter(userDn: string): string {
  return `(member:${IN_CHAIN_RULE}:=${escapeFilterValue(userDn)})`;
}

/** Whether the entry is in the group at any depth, by the directory's own chain rule (base search on the group). */
export async function isMemberInChain(client: Client, groupDn: string, userDn: string): Promise<boolean> {
  try {
    const r = await client.search(groupDn, { scope: "base", filter: inChainFilter(userDn), attributes: ["1.1"], sizeLimit: 1 });
    return r.searchEntries.length > 0;
  } catch (e) {
    if (e instanceof NoSuchObjectError) return false;
    throw new AppError(
      "unavailable",
      `the directory refused the in-chain group query on ${groupDn} (--ldap-nested-groups in-chain): ${e instanceof Error ? e.message : String(e)}`,
      { retryAfterSeconds: 60 },
    );
  }
}

// Root DSE capabilities that say "Active Directory" (AD DS, AD LDS): only these evaluate the chain rule.
const AD_CAPABILITIES = ["1.2.840.113556.1.4.800", "1.2.840.113556.1.4.1851"];
const inChainChecked = new WeakSet<LdapConfig>();

/**
 * A directory that does not know the chain rule does not fail the filter: RFC 4511 makes an unknown
 * matching rule Undefined, so OpenLDAP answers "no entries" and everyone would look group-less
 * (refused as no_group, with nothing said). The root DSE is asked once instead, and a directory
 * that is not Active Directory is a clear error naming the setting.
 */
async function requireInChain(client: Client, cfg: LdapConfig): Promise<void> {
  if (inChainChecked.has(cfg)) return;
  const r = await client.search("", { scope: "base", filter: "(objectClass=*)", attributes: ["supportedCapabilities"], sizeLimit: 1 });
  const caps = text(r.searchEntries[0]?.supportedCapabilities);
  if (!caps.some((c) => AD_CAPABILITIES.includes(c))) {
    throw new AppError(
      "unavailable",
      `--ldap-nested-groups in-chain needs Active Directory (LDAP_MATCHING_RULE_IN_CHAIN, ${IN_CHAIN_RULE}), and this directory does not announce it in its root DSE (supportedCapabilities); use --ldap-nested-groups walk with --ldap-group-base, or direct`,
      { retryAfterSeconds: 60 },
    );
  }
  inChainChecked.add(cfg);
}

// DNs per search of the walk: keeps each filter a few KiB however wide a level is.
const WALK_CHUNK = 50;

/**
 * The groups above an entry, found level by level: the groups under --ldap-group-base whose
 * member (or uniqueMember) is the entry, then those whose member is one of these, and so on. A
 * group seen once is not searched again, so cycles end; the walk stops after maxDepth levels or
 * maxGroups groups (what it found counts; `stopped` says it was cut short). Every search is
 * bounded by --ldap-timeout like any other operation, and stops early once every mapped group
 * is found.
 */
export async function walkGroups(client: Client, cfg: LdapConfig, userDn: string): Promise<{ groups: Set<string>; stopped: "depth" | "count" | null }> {
  const { groupBase, maxDepth, maxGroups } = cfg.nested;
  const wanted = new Set(cfg.roleMap.map((m) => normalizeDn(m.groupDn)));
  const seen = new Set<string>([normalizeDn(userDn)]);
  const groups = new Set<string>();
  let frontier = [userDn];
  for (let depth = 1; frontier.length > 0; depth++) {
    if (depth > maxDepth) return { groups, stopped: "depth" };
    const next: string[] = [];
    for (let i = 0; i < frontier.length; i += WALK_CHUNK) {
      const terms = frontier.slice(i, i + WALK_CHUNK).map((dn) => {
        const v = escapeFilterValue(dn);
        return `(member=${v})(uniqueMember=${v})`;
      });
      let found: Entry[];
      try {
        const r = await client.search(groupBase!, { scope: "sub", filter: `(|${terms.join("")})`, attributes: ["1.1"], sizeLimit: maxGroups + 1 });
        found = r.searchEntries;
      } catch (e) {
        if (e instanceof SizeLimitExceededError) return { groups, stopped: "count" };
        if (e instanceof NoSuchObjectError)
          throw new AppError("unavailable", `--ldap-group-base ${groupBase} does not exist in the directory`, { retryAfterSeconds: 60 });
        throw e;
      }
      for (const g of found) {
        const n = normalizeDn(g.dn);
        if (seen.has(n)) continue;
        seen.add(n);
        groups.add(n);
        next.push(g.dn);
        if (groups.size >= maxGroups) return { groups, stopped: "count" };
      }
    }
    if ([...wanted].every((w) => groups.has(w))) return { groups, stopped: null };
    frontier = next;
  }
  return { groups, stopped: null };
}

/** The one entry the username names, or null (none, or ambiguous: two entries never sign in as one). */
export function findUser(cfg: LdapConfig, username: string): Promise<DirectoryEntry | null> {
  return asService(cfg, async (client) => {
    const filter = cfg.userFilter.replaceAll("{username}", escapeFilterValue(username));
    const r = await client.search(cfg.userBase, { scope: "sub", filter, attributes: ATTRIBUTES, sizeLimit: 2 });
    if (r.searchEntries.length !== 1) return null;
    return describe(client, cfg, r.searchEntries[0]!);
  });
}

/** The entry at dn as it is now (re-check of a signed-in user), or null when it is gone. */
export function readUser(cfg: LdapConfig, dn: string): Promise<DirectoryEntry | null> {
  return asService(cfg, async (client) => {
    try {
      const r = await client.search(dn, { scope: "base", filter: "(objectClass=*)", attributes: ATTRIBUTES, sizeLimit: 1 });
      return r.searchEntries[0] ? describe(client, cfg, r.searchEntries[0]) : null;
    } catch (e) {
      if (e instanceof NoSuchObjectError) return null;
      throw e;
    }
  });
}

/** Whether the password is the entry's: a bind as the user. Never called with an empty password (an unauthenticated bind "succeeds"). */
export async function checkPassword(cfg: LdapConfig, dn: string, password: string): Promise<boolean> {
  if (password.length === 0) return false;
  let client: Client;
  try {
    client = await connect(cfg, dn, password);
  } catch (e) {
    if (e instanceof InvalidCredentialsError) return false;
    throw unavailable(e);
  }
  await client.unbind().catch(() => {});
  return true;
}
