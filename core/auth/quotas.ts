import type { RatePolicy } from "../config/parse.ts";
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

/** The buckets that follow the person for this request (counted with the token's by the guard). */
export function userBuckets(
  cred: Credential,
  method: string,
  route: string,
  settings: AuthSettings,
): { policyName: string; key: string; policy: RatePolicy; what?: string }[] {
  const out: { policyName: string; key: string; policy: RatePolicy; what?: string }[] = [
    { policyName: "user", key: `u:${cred.user.id}`, policy: settings.rateLimitUser },
  ];
  if (settings.quotaItems && cred.user.role === "reporter" && ITEM_CREATING.has(accessKey(method, route))) {
    out.push({ policyName: "items", key: `qi:${cred.user.id}`, policy: settings.quotaItems, what: "items created" });
  }
  return out;
}
