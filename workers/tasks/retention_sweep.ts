import type { JobHelpers } from "graphile-worker";
import { pruneLoginFailures } from "../../core/auth/auth.repository.ts";
import { pruneExpired } from "../../core/auth/mfa/mfa.repository.ts";
import { pruneExpiredChallenges } from "../../core/auth/mfa/webauthn.repository.ts";
import { AppError } from "../../core/errors.ts";
import { pruneStaleLeases } from "../../core/events/event-leases.repository.ts";
import { enqueue } from "../../core/queue/enqueue.ts";
import { pruneCounters } from "../../core/ratelimit/ratelimit.ts";
import { sweepRetention, type RetentionDeps } from "../../core/retention/retention.service.ts";

export const RETENTION_BATCH = 50;

/**
 * Task id: retention_sweep (batch). Payload `{}` (or `{ batch }`): deletes up to RETENTION_BATCH
 * streams whose retention ran out (per-stream keep_days, else --retention) and that are not
 * under legal hold, then queues the next batch while more remain. Also drops stale rate-limit
 * counters, expired lockout rows, event-stream leases of crashed nodes, and expired passkey and
 * sign-in (second factor pending) challenges of every user. Started by the worker's crontab (--retention-schedule).
 */
export async function run(deps: RetentionDeps, defaultMs: number | null, payload: unknown, helpers?: Pick<JobHelpers, "abortSignal">): Promise<void> {
  const p = (payload ?? {}) as { batch?: unknown };
  const batch = p.batch === undefined ? 0 : Number(p.batch);
  if (!Number.isInteger(batch) || batch < 0 || batch > 100_000) throw new AppError("bad_request", "retention_sweep payload: batch must be a whole number");
  if (batch === 0) {
    const counters = await pruneCounters(deps.db);
    const lockouts = await pruneLoginFailures(deps.db);
    const leases = await pruneStaleLeases(deps.db);
    const passkeyChallenges = await pruneExpiredChallenges(deps.db);
    const signInChallenges = await pruneExpired(deps.db, "mfa_challenges");
    if (counters || lockouts || leases || passkeyChallenges || signInChallenges)
      deps.log.info("pruned throttling state", { counters, lockouts, leases, passkeyChallenges, signInChallenges });
  }
  if (helpers?.abortSignal?.aborted) return;
  const r = await sweepRetention(deps, defaultMs, RETENTION_BATCH);
  if (r.deleted || r.refused) deps.log.info("retention sweep", { batch, ...r });
  if (r.more && r.deleted > 0) await enqueue(deps.db, "retention_sweep", { batch: batch + 1 }, { jobKey: "retention_sweep:next" });
}
