import type { Kysely } from "kysely";
import { audit } from "../../audit/audit.service.ts";
import type { LdapConfig } from "../../config/ldap.ts";
import type { DB, UserRole } from "../../db/schema.ts";
import { AppError } from "../../errors.ts";
import * as repo from "./directory.repository.ts";
import { checkPassword, findUser, readUser, roleFor, type DirectoryEntry } from "./ldap.ts";

/** Why a directory sign-in was refused (audited; the caller only hears "wrong"). */
export type DirectoryDenial = "no_entry" | "disabled" | "wrong_password" | "no_group";

export type DirectorySignIn =
  | { ok: true; user: { id: string; email: string; role: UserRole }; groups: string[] }
  | { ok: false; reason: DirectoryDenial; userId?: string; detail?: Record<string, unknown> };

/**
 * Directory sign-in: the service account finds the entry (by username through --ldap-user-filter,
 * or by the DN of a known directory account), a bind as the entry checks the password, the mapped
 * groups give the role. A disabled entry is refused before its password is tried. The local row is
 * created or refreshed so sessions, audit and holds name a user like any other.
 */
export async function directorySignIn(db: Kysely<DB>, cfg: LdapConfig, who: { username: string } | { dn: string }, password: string): Promise<DirectorySignIn> {
  const entry = "dn" in who ? await readUser(cfg, who.dn) : await findUser(cfg, who.username);
  if (!entry) return { ok: false, reason: "no_entry" };
  const known = await repo.findByDn(db, entry.dn);
  if (entry.disabled) return { ok: false, reason: "disabled", userId: known?.id };
  if (!(await checkPassword(cfg, entry.dn, password))) return { ok: false, reason: "wrong_password", userId: known?.id };
  const role = roleFor(cfg, entry.groups);
  if (!role) return { ok: false, reason: "no_group", userId: known?.id, detail: walkDetail(entry) };
  const email = (entry.mail ?? `${"username" in who ? who.username : entry.dn.split(",")[0]!.split("=")[1]}@${new URL(cfg.url).hostname}`).toLowerCase();
  let row;
  try {
    row = await repo.upsertDirectoryUser(db, { dn: entry.dn, email, role });
  } catch (e) {
    if ((e as { code?: string }).code === "23505")
      throw new AppError("conflict", `another rter account already uses ${email}; an admin must rename or remove it`);
    throw e;
  }
  if (row.disabled_at) return { ok: false, reason: "disabled", userId: row.id };
  if (known && known.role !== role) await auditRole(db, row.id, row.email, known.role, role, entry);
  return { ok: true, user: { id: row.id, email: row.email, role: row.role }, groups: entry.groups };
}

/** When the nested-group walk was cut short, the audit says where: a missing role may be the limit's doing. */
function walkDetail(entry: DirectoryEntry): Record<string, unknown> | undefined {
  return entry.walkStopped ? { nested_walk_stopped: entry.walkStopped } : undefined;
}

async function auditRole(db: Kysely<DB>, id: string, email: string, from: UserRole, to: UserRole, entry: DirectoryEntry) {
  await audit(db, {
    action: "user.role_changed",
    targetType: "user",
    targetId: id,
    actor: null,
    detail: { email, from, to, via: "directory", groups: entry.groups },
  });
}

// One re-check per user at a time in this process: a burst of requests shares one directory read.
const inFlight = new Map<string, Promise<void>>();

/**
 * A directory account's groups and state are re-read once --ldap-cache has passed since the last
 * read: removed from every mapped group, disabled or deleted in the directory, it is disabled here
 * (the request is refused and its open event streams end); a changed group changes its role. A
 * directory that does not answer is a 503: access is not extended on stale knowledge.
 */
export async function recheckIfStale(
  db: Kysely<DB>,
  cfg: LdapConfig | null,
  row: { id: string; email: string; role: UserRole; directory_dn: string | null; directory_checked_at: Date | string | null },
): Promise<{ role: UserRole } | { disabled: true } | null> {
  if (!row.directory_dn) return null;
  if (!cfg) return { disabled: true };
  const checked = row.directory_checked_at ? new Date(row.directory_checked_at).getTime() : 0;
  if (Date.now() - checked < cfg.cacheMs) return null;
  const dn = row.directory_dn;
  let p = inFlight.get(row.id);
  if (!p) {
    p = (async () => {
      const entry = await readUser(cfg, dn);
      const role = entry && !entry.disabled ? roleFor(cfg, entry.groups) : null;
      if (!role) {
        await repo.recordCheck(db, row.id, { disabled: true });
        await audit(db, {
          action: "user.disabled",
          targetType: "user",
          targetId: row.id,
          actor: null,
          detail: {
            email: row.email,
            via: "directory",
            reason: !entry ? "no_entry" : entry.disabled ? "disabled" : "no_group",
            ...(entry && walkDetail(entry)),
          },
        });
        return;
      }
      await repo.recordCheck(db, row.id, { role });
      if (role !== row.role) await auditRole(db, row.id, row.email, row.role, role, entry!);
    })().finally(() => inFlight.delete(row.id));
    inFlight.set(row.id, p);
  }
  await p;
  const now = await repo.findByDn(db, dn);
  return !now || now.disabled_at ? { disabled: true } : { role: now.role };
}
