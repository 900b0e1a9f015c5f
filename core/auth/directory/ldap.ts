import { readFileSync } from "node:fs";
import { Client, InvalidCredentialsError, NoSuchObjectError, type Entry } from "ldapts";
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
  for (const m of cfg.roleMap) {
    if (memberOf.has(normalizeDn(m.groupDn)) || (await isMember(client, m.groupDn, entry.dn))) groups.push(m.groupDn);
  }
  return { dn: entry.dn, mail: text(entry.mail)[0] ?? null, disabled, groups };
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
