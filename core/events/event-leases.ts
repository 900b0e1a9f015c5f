import type { Kysely } from "kysely";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { dropLeases, renewLeases, takeLease } from "./event-leases.repository.ts";

/** A node renews its leases this often; one not renewed for LEASE_STALE_S belonged to a node that died. */
const RENEW_MS = 10_000;
const LEASE_STALE_S = 45;

/**
 * The per-reporter limit on open event streams (--max-event-streams), across every API node:
 * each open stream holds a row in event_leases that its node renews; closing the stream drops it,
 * and a crashed node's rows go stale and stop counting. Each stream costs one transaction when it
 * opens and one delete when it closes; renewals are one statement per node per RENEW_MS.
 */
export class EventLeases {
  private mine = new Set<string>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly nodeId: string,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => {
      if (this.mine.size) renewLeases(this.db, [...this.mine]).catch((e) => this.log.debug("event lease renewal failed", { err: (e as Error).message }));
    }, RENEW_MS);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.mine.size) await dropLeases(this.db, [...this.mine]).catch(() => {});
    this.mine.clear();
  }

  /** A lease for one more open stream of `userId`, or 429 when they hold `max` already. Returns its release. */
  async acquire(userId: string, max: number): Promise<() => void> {
    const id = crypto.randomUUID();
    if (!(await takeLease(this.db, { id, userId, nodeId: this.nodeId }, max, LEASE_STALE_S))) {
      throw new AppError("rate_limited", `too many open event streams: at most ${max} per reporter; close one (another tab or device) first`, {
        retryAfterSeconds: 10,
      });
    }
    this.mine.add(id);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.mine.delete(id);
      dropLeases(this.db, [id]).catch((e) => this.log.debug("event lease release failed", { err: (e as Error).message }));
    };
  }

  get held(): number {
    return this.mine.size;
  }
}
