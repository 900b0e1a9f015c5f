import type { AuthUser } from "../auth/auth.service.ts";
import { assertCanChange, assertCanSee, requireWriter } from "../auth/guards.ts";

/**
 * Who may see and feed a stream (the route-level rules are in core/auth/access-matrix.ts). A
 * reporter sees only their own streams; a hidden stream answers 404, not 403, so ids cannot be
 * probed. Viewers never write. Operators and admins see all and may upload to any.
 */
export function assertCanView(user: AuthUser, stream: { owner_id: string }): void {
  assertCanSee(user, stream.owner_id, "such stream");
}

export function assertCanWrite(user: AuthUser, stream: { owner_id: string }): void {
  assertCanChange(user, stream.owner_id, "such stream");
}

export function assertCanCreate(user: AuthUser): void {
  requireWriter(user, "streams");
}
