import type { UserRole } from "../db/schema.ts";

/**
 * A user's role: what they may do (the access matrix, core/auth/access-matrix.ts, maps each route
 * to a role's rights; guards.ts holds the object-level rules). The database column holds the same
 * values (users.role); the type follows it, so a new role is one migration and one entry here.
 */
export type Role = UserRole;

/** Every role, most powerful first. */
export const ROLES: readonly Role[] = ["admin", "operator", "reporter", "viewer"];

export function isRole(v: unknown): v is Role {
  return typeof v === "string" && (ROLES as readonly string[]).includes(v);
}
