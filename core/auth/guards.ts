import { AppError } from "../errors.ts";
import type { Role } from "./role.ts";

/**
 * Small, reusable access checks for services (no Elysia here). The route-level role matrix
 * (access-matrix.ts) already refuses roles a route never serves; these are the object-level
 * rules a route cannot express, e.g. "a reporter sees only what is theirs".
 */
export interface Principal {
  id: string;
  role: Role;
}

export function requireRole(user: Principal, ...roles: Role[]): void {
  if (!roles.includes(user.role)) throw new AppError("forbidden", `this needs the ${roles.join(" or ")} role`);
}

/** Operators and admins: the EOC staff who see everything and curate. */
export function isStaff(user: Principal): boolean {
  return user.role === "admin" || user.role === "operator";
}

export function requireStaff(user: Principal): void {
  requireRole(user, "operator", "admin");
}

/** Everyone but viewers may create and change things (each within their own scope). */
export function requireWriter(user: Principal, what = "this"): void {
  if (user.role === "viewer") throw new AppError("forbidden", `viewers cannot change ${what}`);
}

/** Whether the user may see something owned by `ownerId`: reporters only their own, everyone else all. */
export function canSee(user: Principal, ownerId: string | null): boolean {
  return user.role !== "reporter" || ownerId === user.id;
}

/**
 * Reporters get 404 (not 403) for what is not theirs, so ids cannot be probed. Use for every
 * read of a thing with an owner (streams, items, guidance, telemetry).
 */
export function assertCanSee(user: Principal, ownerId: string | null, what = "such thing"): void {
  if (!canSee(user, ownerId)) throw new AppError("not_found", `no ${what}`);
}

/** Sees it, and may change it: owners (reporters), operators and admins; never viewers. */
export function assertCanChange(user: Principal, ownerId: string | null, what = "such thing"): void {
  assertCanSee(user, ownerId, what);
  requireWriter(user, what);
}

/**
 * Whether a holder of `holder` may hand out `wanted` (a scoped token, an invite). Admin > operator
 * > {reporter, viewer}; reporter and viewer are not ordered: a viewer reads every stream, a
 * reporter only their own, so neither contains the other.
 */
export function roleCovers(holder: Role, wanted: Role): boolean {
  if (holder === wanted || holder === "admin") return true;
  return holder === "operator" && (wanted === "reporter" || wanted === "viewer");
}
