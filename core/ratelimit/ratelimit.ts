import type { Kysely } from "kysely";
import type { RatePolicy } from "../config/parse.ts";
import { AppError } from "../errors.ts";
import { currentRequest } from "../request-context.ts";
import { countHits, countHitsMany, deleteStaleCounters, quotaCounts } from "./ratelimit.repository.ts";

/** What one counted request learned about its bucket. */
export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the current window ends. */
  resetSeconds: number;
}

const MAX_REMEMBERED = 50_000;

interface Counted {
  hits: number;
  reset: number;
}

/**
 * Requests of one bucket on this node share upserts: while one is in flight, the next requests
 * wait and go together as `hits + n`, each getting its own place in the count. Every upsert of a
 * bucket locks its one row, so without this a busy token's requests queue on that row lock one
 * commit at a time; with it, a node sends at most one upsert per bucket at a time. The count stays
 * exact and shared (a lone request still goes straight to the database).
 */
interface Batch {
  /** Window seconds of the bucket's policy. */
  w: number;
  waiting: { resolve: (c: Counted) => void; reject: (e: unknown) => void }[];
}

/**
 * One node's rate limiting: the counts are shared by every API node (rate_counters), the batches
 * in flight and the memory of buckets over their limit are this node's. It lives on the node's
 * API context (core/runtime.ts), so two nodes in one process (tests) keep theirs apart.
 */
export class RateLimiter {
  // Keys known to be over their limit until the end of their window: a client that keeps
  // hammering after its 429 costs a map lookup, not a database round trip.
  private readonly overLimit = new Map<string, number>();
  private readonly batches = new Map<string, Batch>();

  private remember(key: string, untilMs: number): void {
    if (this.overLimit.size >= MAX_REMEMBERED) {
      const now = Date.now();
      for (const [k, until] of this.overLimit) if (until <= now) this.overLimit.delete(k);
      if (this.overLimit.size >= MAX_REMEMBERED) this.overLimit.clear();
    }
    this.overLimit.set(key, untilMs);
  }

  /**
   * Counts one request against `key` in a fixed window shared by every API node: an upsert on an
   * unlogged table whose window boundaries come from the database clock, so nodes agree.
   */
  async hit(db: Kysely<any>, key: string, policy: RatePolicy): Promise<RateDecision> {
    const now = Date.now();
    const remembered = this.remembered(key, policy, now);
    if (remembered) return remembered;
    return this.decide(key, policy, await this.countOne(db, key, policy.windowSeconds), now);
  }

  /** The refusal remembered for a bucket over its limit, or null when it may be counted. */
  private remembered(key: string, policy: RatePolicy, now: number): RateDecision | null {
    const until = this.overLimit.get(key);
    if (until === undefined) return null;
    if (until > now) return { allowed: false, limit: policy.limit, remaining: 0, resetSeconds: Math.max(1, Math.ceil((until - now) / 1000)) };
    this.overLimit.delete(key);
    return null;
  }

  private decide(key: string, policy: RatePolicy, { hits, reset }: Counted, now: number): RateDecision {
    const resetSeconds = Math.max(1, Math.ceil(reset));
    const allowed = hits <= policy.limit;
    if (!allowed) this.remember(key, now + resetSeconds * 1000);
    return { allowed, limit: policy.limit, remaining: Math.max(0, policy.limit - hits), resetSeconds };
  }

  /**
   * Counts the request in bucket `key` under the named policy, reports the bucket to the request
   * edge (RateLimit headers) and throws 429 with Retry-After when it is over.
   */
  async enforce(db: Kysely<any>, policyName: string, key: string, policy: RatePolicy, what = "requests"): Promise<void> {
    this.report(policyName, policy, what, await this.hit(db, key, policy));
  }

  /**
   * enforce() for several buckets of one request (the token's and the user's), counted in one
   * statement when none of them has a batch in flight or a remembered refusal on this node —
   * the usual case of a phone's uploads, which would otherwise pay one round trip per bucket.
   * Every bucket is counted, then the first one over its limit answers 429. Otherwise (a busy
   * bucket) they go one by one through enforce(), batching with the requests in flight.
   */
  async enforceAll(db: Kysely<any>, buckets: readonly { policyName: string; key: string; policy: RatePolicy; what?: string }[]): Promise<void> {
    const now = Date.now();
    const keys = new Set(buckets.map((b) => b.key));
    const free = keys.size === buckets.length && buckets.every((b) => !this.batches.has(b.key) && (this.overLimit.get(b.key) ?? 0) <= now);
    if (buckets.length < 2 || !free) {
      for (const b of buckets) await this.enforce(db, b.policyName, b.key, b.policy, b.what);
      return;
    }
    // In flight like a batch: requests of these buckets meanwhile wait and go together after it.
    const slots = buckets.map((b) => {
      const slot: Batch = { w: b.policy.windowSeconds, waiting: [] };
      this.batches.set(b.key, slot);
      return slot;
    });
    let counted: Counted[];
    try {
      counted = await countHitsMany(
        db,
        buckets.map((b) => ({ key: b.key, w: b.policy.windowSeconds, n: 1 })),
      );
    } finally {
      buckets.forEach((b, i) => void this.drain(db, b.key, slots[i]!));
    }
    const decisions = buckets.map((b, i) => this.decide(b.key, b.policy, counted[i]!, now));
    buckets.forEach((b, i) => this.report(b.policyName, b.policy, b.what ?? "requests", decisions[i]!));
  }

  private report(policyName: string, policy: RatePolicy, what: string, d: RateDecision): void {
    const req = currentRequest();
    // Several buckets may count one request (token, user, items): the headers tell the tightest.
    if (req && (!req.rateLimit || !d.allowed || d.remaining < req.rateLimit.remaining)) {
      req.rateLimit = { policy: policyName, limit: d.limit, windowSeconds: policy.windowSeconds, remaining: d.remaining, resetSeconds: d.resetSeconds };
    }
    if (!d.allowed) {
      throw new AppError("rate_limited", `too many ${what}: ${policy.limit} per ${policy.windowSeconds} s; retry in ${d.resetSeconds} s`, {
        retryAfterSeconds: d.resetSeconds,
      });
    }
  }

  private countOne(db: Kysely<any>, key: string, w: number): Promise<Counted> {
    return new Promise((resolve, reject) => {
      const slot = this.batches.get(key);
      if (slot) {
        slot.waiting.push({ resolve, reject });
        return;
      }
      const fresh: Batch = { w, waiting: [{ resolve, reject }] };
      this.batches.set(key, fresh);
      void this.drain(db, key, fresh);
    });
  }

  private async drain(db: Kysely<any>, key: string, slot: Batch): Promise<void> {
    try {
      while (slot.waiting.length > 0) {
        const batch = slot.waiting.splice(0);
        const n = batch.length;
        try {
          const { hits, reset } = await countHits(db, key, slot.w, n);
          batch.forEach((b, i) => b.resolve({ hits: hits - n + 1 + i, reset }));
        } catch (e) {
          for (const b of batch) b.reject(e);
        }
      }
    } finally {
      this.batches.delete(key);
    }
  }
}

/** IETF draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy: "token";q=3000;w=60`, `RateLimit: "token";r=2999;t=42`. */
export function rateLimitHeaders(s: { policy: string; limit: number; windowSeconds: number; remaining: number; resetSeconds: number }): Record<string, string> {
  return {
    "ratelimit-policy": `"${s.policy}";q=${s.limit};w=${s.windowSeconds}`,
    ratelimit: `"${s.policy}";r=${s.remaining};t=${s.resetSeconds}`,
  };
}

/** Windows end; rows of buckets silent for a day are dropped by the retention job. */
export async function pruneCounters(db: Kysely<any>): Promise<number> {
  return deleteStaleCounters(db);
}

/** For /api/v1/status: buckets counting in the last minute, and accounts locked now (cluster-wide). */
export async function quotaIndicators(db: Kysely<any>): Promise<{ active_buckets: number; locked_accounts: number }> {
  const { active, locked } = await quotaCounts(db);
  return { active_buckets: active, locked_accounts: locked };
}
