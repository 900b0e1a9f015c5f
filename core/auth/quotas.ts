import type { Kysely } from "kysely";
import type { DB } from "../db/schema.ts";
import type { RateLimiter } from "../ratelimit/ratelimit.ts";
import { accessKey } from "./access-matrix.ts";
import type { AuthSettings, Credential } from "./auth.service.ts";

/**
 * Limits that follow the person, not the token: every sign-in mints a new session token, so a
 * per-token limit multiplies with logins. All counters live in the shared `rate_counters` table
 * (every API node counts into the same window).
 *
 * - Every user: `--rate-limit-user` requests per window across all their tokens and sessions.
 * - Reporters (the field, including invited citizens; an invite creates exactly one account, so
 *   per user is per invite): `--quota-items` items created per window, whatever the token.
 *   Staff are not counted: operators and admins curate, import and test at volume.
 * - Open event streams per reporter: core/events/event-leases.ts (`--max-event-streams`).
 */
export const ITEM_CREATING = new Set(["POST /api/v1/items", "POST /api/v1/items/photos", "POST /api/v1/streams"]);

export async function enforceUserLimits(db: Kysely<DB>, limits: RateLimiter, cred: Credential, method: string, route: string, settings: AuthSettings): Promise<void> {
  await limits.enforce(db, "user", `u:${cred.user.id}`, settings.rateLimitUser);
  if (settings.quotaItems && cred.user.role === "reporter" && ITEM_CREATING.has(accessKey(method, route))) {
    await limits.enforce(db, "items", `qi:${cred.user.id}`, settings.quotaItems, "items created");
  }
}
