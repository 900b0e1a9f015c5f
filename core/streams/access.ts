import type { AuthUser } from "../auth/auth.service.ts";
import { AppError } from "../errors.ts";

/**
 * Who may see and feed a stream. A reporter sees only their own streams; a hidden stream answers
 * 404, not 403, so ids cannot be probed. Viewers never write.
 */
export function assertCanView(user: AuthUser, stream: { owner_id: string }): void {
  if (user.role === "reporter" && stream.owner_id !== user.id) throw new AppError("not_found", "no such stream");
}

export function assertCanWrite(user: AuthUser, stream: { owner_id: string }): void {
  assertCanView(user, stream);
  if (user.role === "viewer") throw new AppError("forbidden", "viewers cannot change streams");
  if (user.role === "reporter" && stream.owner_id !== user.id) throw new AppError("forbidden", "only the stream's reporter can upload to it");
}

export function assertCanCreate(user: AuthUser): void {
  if (user.role === "viewer") throw new AppError("forbidden", "viewers cannot create streams");
}
