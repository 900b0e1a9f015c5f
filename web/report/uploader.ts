// The outbox pump: sends what the reporter recorded, oldest first, a few requests at a time,
// retrying with backoff until the server has it. Every PUT is idempotent (by seq, or the stream's
// one init), so a retry after a lost answer is harmless. A stream's init goes before its chunks
// and its "finish" after them: both wait for everything earlier of their stream.
// fetch (`request`) and the clock are passed in so the unit test drives it without a network.

import type { OutboxEntry } from "../lib/outbox.ts";

export const PARALLEL_UPLOADS = 3;
export const MAX_BACKOFF_MS = 8_000;

export type Requester = (path: string, init: RequestInit & { json?: unknown; timeoutMs?: number }) => Promise<Response>;

export interface UploaderDeps {
  outbox: { all(): Promise<OutboxEntry[]>; remove(id: number): Promise<void> };
  request: Requester;
  /** `sleep` may resolve early; the pump only needs "at least about this long". */
  clock: { now(): number; sleep(ms: number): Promise<void> };
  random?: () => number;
  /** The session ended (401): the page asks for a sign-in; the pump stops until called again. */
  onAuth: () => void;
  /** Something shown changed (counts, errors). */
  onChange: () => void;
  log?: (msg: string, ...rest: unknown[]) => void;
}

export interface UploadStats {
  sent: number;
  rejected: number;
  failures: number;
  lastError: string;
  online: boolean;
  queued: number;
  oldestWaiting: number | null;
}

type Outcome = "done" | "retry" | "auth";

/** Seconds of Retry-After, capped: a server asking for longer is asked again sooner. */
function retryAfterMs(res: Response): number | null {
  const s = Number(res.headers.get("retry-after"));
  return Number.isFinite(s) && s > 0 ? Math.min(s * 1000, 30_000) : null;
}

async function problem(res: Response): Promise<string> {
  const p = (await res.json().catch(() => null)) as { detail?: string; title?: string } | null;
  return p?.detail ?? p?.title ?? res.statusText ?? String(res.status);
}

/** Which entries go out together: oldest first; init and finish wait for their stream's earlier entries. */
export function nextBatch(entries: OutboxEntry[], max = PARALLEL_UPLOADS): OutboxEntry[] {
  const batch: OutboxEntry[] = [];
  const blocked = new Set<string>();
  for (const e of entries) {
    if (batch.length >= max) break;
    if (blocked.has(e.streamId)) continue;
    if (e.kind === "init" || e.kind === "finish") {
      if (batch.every((b) => b.streamId !== e.streamId)) batch.push(e);
      blocked.add(e.streamId);
      continue;
    }
    batch.push(e);
  }
  return batch;
}

export class Uploader {
  readonly stats: UploadStats = { sent: 0, rejected: 0, failures: 0, lastError: "", online: true, queued: 0, oldestWaiting: null };
  private pumping = false;
  private again = false;
  private wakeSleep: (() => void) | null = null;

  constructor(private readonly deps: UploaderDeps) {}

  /** The network is back: stop waiting out the backoff and try at once. */
  wake(resetBackoff = false): void {
    if (resetBackoff) {
      this.stats.failures = 0;
      this.stats.online = true;
    }
    this.wakeSleep?.();
  }

  /**
   * Sends until the outbox is empty (or the session ended). A call while the pump runs only makes
   * sure it looks at the outbox again before it stops; it does not cut a backoff or a Retry-After
   * short (new chunks arrive four times a second; the server asked for a pause).
   */
  async pump(): Promise<void> {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do this.again = false;
      while ((await this.rounds()) && this.again);
    } finally {
      this.pumping = false;
      this.deps.onChange();
    }
  }

  /** Rounds until the outbox is empty (true) or the session ended (false). */
  private async rounds(): Promise<boolean> {
    for (;;) {
      const entries = await this.deps.outbox.all();
      this.count(entries);
      if (!entries.length) return true;
      const batch = nextBatch(entries);
      const outcomes = await Promise.all(
        batch.map(async (e) => {
          const o = await this.send(e);
          if (o === "done") await this.deps.outbox.remove(e.id!);
          return o;
        }),
      );
      if (outcomes.includes("auth")) {
        this.deps.onAuth();
        return false;
      }
      if (outcomes.includes("retry")) {
        this.stats.failures++;
        const jitter = 0.75 + (this.deps.random ?? Math.random)() * 0.5;
        const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(this.stats.failures - 1, 5)) * jitter;
        this.deps.onChange();
        await this.sleep(delay);
      } else {
        this.stats.failures = 0;
        this.stats.lastError = "";
      }
    }
  }

  /** Refreshes the waiting figures from the outbox. */
  async refresh(): Promise<void> {
    this.count(await this.deps.outbox.all());
  }

  private count(entries: OutboxEntry[]): void {
    const chunks = entries.filter((e) => e.kind === "chunk");
    this.stats.queued = chunks.length;
    this.stats.oldestWaiting = chunks.length ? Math.min(...chunks.map((c) => c.createdAt)) : null;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.wakeSleep = null;
        resolve();
      };
      this.wakeSleep = done;
      void this.deps.clock.sleep(ms).then(done);
    });
  }

  private async send(e: OutboxEntry): Promise<Outcome> {
    const base = `/api/v1/streams/${e.streamId}`;
    let res: Response;
    try {
      if (e.kind === "chunk")
        res = await this.deps.request(`${base}/chunks/${e.seq}`, {
          method: "PUT",
          body: e.blob,
          headers: { "content-type": e.type, "x-chunk-start": String(e.start) },
          timeoutMs: 30_000,
        });
      else if (e.kind === "init")
        res = await this.deps.request(`${base}/init`, { method: "PUT", body: e.blob, headers: { "content-type": "video/mp4" }, timeoutMs: 30_000 });
      else if (e.kind === "telemetry") res = await this.deps.request(`${base}/telemetry`, { method: "POST", json: { samples: e.samples } });
      else res = await this.deps.request(`${base}/finish`, { method: "POST" });
    } catch (err) {
      this.stats.lastError = (err as Error).name === "TimeoutError" ? "upload timed out" : "network unreachable";
      this.stats.online = false;
      return "retry";
    }
    this.stats.online = true;
    if (res.ok) {
      await res.body?.cancel().catch(() => {});
      if (e.kind === "chunk") this.stats.sent++;
      return "done";
    }
    if (res.status === 401) return "auth";
    if (res.status === 429 || res.status >= 500 || res.status === 408) {
      this.stats.lastError = await problem(res);
      const wait = retryAfterMs(res);
      if (wait) await this.sleep(wait);
      return "retry";
    }
    // 400/404/409/413/415: this entry can never be accepted as it is; keep going with the rest.
    this.stats.rejected++;
    this.stats.lastError = `server refused ${e.kind} (${res.status})`;
    (this.deps.log ?? console.warn)("outbox entry refused", e.kind, res.status, await res.text().catch(() => ""));
    return "done";
  }
}
