import pg from "pg";
import type { Logger } from "../log.ts";
import { PARTS_CHANNEL } from "./cmaf.model.ts";

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5_000;
/** While the LISTEN connection is down, waiters look again this often instead of sleeping through a commit. */
const DEGRADED_WAKE_MS = 500;
/** Generation counters kept per stream before they are reset (a new epoch keeps them distinct). */
const MAX_TRACKED_STREAMS = 50_000;

/** A pending wait: resolves true on a commit notice for the stream, false when its time ran out. */
export interface PartWait {
  readonly done: Promise<boolean>;
  cancel(): void;
}

/**
 * Wakes blocked LL-HLS requests the moment a part of their stream commits. One LISTEN connection
 * per API node on PARTS_CHANNEL (the ingest NOTIFYs the stream id in the transaction that commits
 * the part); requests hold no pooled connection while they wait, only a callback here.
 *
 * Use: subscribe with wait() first, then read the list, then await `done` if the list is not
 * ready yet — a part committed between the read and the await still wakes the request.
 */
export class PartWaiter {
  private readonly waiting = new Map<string, Set<(hit: boolean) => void>>();
  private readonly notices = new Map<string, number>();
  private epoch = 0;
  private client: pg.Client | null = null;
  private stopped = false;
  private delay = RECONNECT_MIN_MS;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeAll();
    await this.client?.end().catch(() => {});
  }

  get connected(): boolean {
    return this.client !== null;
  }

  /** Requests currently blocked here (all streams). */
  get pending(): number {
    let n = 0;
    for (const s of this.waiting.values()) n += s.size;
    return n;
  }

  /**
   * Changes with every commit notice for the stream (and after a reconnect). A read of the list
   * started while the generation was g reflects every part notified up to g, so requests that
   * see the same generation may share one read.
   */
  generation(streamId: string): string {
    return `${this.epoch}:${this.notices.get(streamId.toLowerCase()) ?? 0}`;
  }

  /** Resolves on the next commit notice for `streamId`, or with false after `maxMs`. */
  wait(streamId: string, maxMs: number, signal?: AbortSignal): PartWait {
    const key = streamId.toLowerCase();
    let finish!: (hit: boolean) => void;
    const done = new Promise<boolean>((resolve) => {
      const limit = this.client ? maxMs : Math.min(maxMs, DEGRADED_WAKE_MS);
      const timer = setTimeout(() => finish(false), Math.max(0, limit));
      const onAbort = () => finish(false);
      finish = (hit) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        const set = this.waiting.get(key);
        set?.delete(finish);
        if (set?.size === 0) this.waiting.delete(key);
        resolve(hit);
      };
      if (this.stopped || signal?.aborted) return finish(false);
      signal?.addEventListener("abort", onAbort, { once: true });
      let set = this.waiting.get(key);
      if (!set) this.waiting.set(key, (set = new Set()));
      set.add(finish);
    });
    return { done, cancel: () => finish(false) };
  }

  private wake(streamId: string): void {
    const key = streamId.toLowerCase();
    if (this.notices.size >= MAX_TRACKED_STREAMS) {
      this.notices.clear();
      this.epoch++;
    }
    this.notices.set(key, (this.notices.get(key) ?? 0) + 1);
    const set = this.waiting.get(key);
    if (set) for (const f of [...set]) f(true);
  }

  /** Everyone looks again: after a reconnect a notice may have been missed. */
  private wakeAll(): void {
    this.epoch++;
    for (const set of [...this.waiting.values()]) for (const f of [...set]) f(true);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5_000, keepAlive: true, application_name: "rter:parts-listener" });
    client.on("notification", (n) => {
      if (n.channel === PARTS_CHANNEL && n.payload) this.wake(n.payload);
    });
    client.on("error", (e) => this.lost(client, e));
    client.on("end", () => this.lost(client, new Error("connection ended")));
    await client.connect();
    await client.query(`LISTEN ${PARTS_CHANNEL}`);
    this.client = client;
    this.delay = RECONNECT_MIN_MS;
    this.wakeAll();
  }

  private lost(client: pg.Client, e: Error): void {
    if (this.client !== client || this.stopped) return;
    this.client = null;
    this.log.warn("part listener lost its connection; reconnecting", { err: e.message });
    client.end().catch(() => {});
    this.wakeAll();
    const retry = () => {
      if (this.stopped) return;
      this.connect().catch((err) => {
        this.delay = Math.min(this.delay * 2, RECONNECT_MAX_MS);
        this.log.debug("part listener reconnect failed", { err: (err as Error).message });
        setTimeout(retry, this.delay);
      });
    };
    setTimeout(retry, this.delay);
  }
}
