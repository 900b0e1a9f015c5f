import pg from "pg";
import type { Kysely } from "kysely";
import type { DB } from "../db/schema.ts";
import type { Logger } from "../log.ts";
import { EVENTS_CHANNEL, eventsAfter, latestEventId, type RterEvent } from "./events.service.ts";

type Listener = (e: RterEvent) => void;

/** Migration 0012's triggers NOTIFY here (payload: a user id) when a credential may have ended. */
export const AUTH_CHANNEL = "rter_auth";

const BATCH = 500;
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5_000;
// Belt and braces: a notification lost across a reconnect is found by this poll.
const SAFETY_POLL_MS = 5_000;
// Ids are taken at insert but committed in any order: a hole in the ids may be a transaction
// still committing. Hold delivery at the hole this long before deciding it was rolled back.
const GAP_HOLD_MS = 3_000;

/**
 * One LISTEN connection per API node; every SSE client of the node subscribes here. An event
 * written through any node reaches clients of every node: the writer NOTIFYs, each hub reads the
 * new rows by id and fans them out in order.
 */
export class EventHub {
  private listeners = new Set<Listener>();
  private enders = new Set<() => void>();
  private draining = false;
  private authListeners = new Set<(userId: string) => void>();
  private client: pg.Client | null = null;
  private lastId = "0";
  private reading: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  private delay = RECONNECT_MIN_MS;
  private connections = 0;

  constructor(
    private readonly url: string,
    private readonly db: Kysely<DB>,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.lastId = await latestEventId(this.db);
    await this.connect();
    this.timer = setInterval(() => this.pull(), SAFETY_POLL_MS);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.client?.end().catch(() => {});
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * How to end one open stream when the node drains. Registered after drain() began, it runs at
   * once: a stream must not outlive a stopping node. Returns the unregister.
   */
  onDrain(end: () => void): () => void {
    if (this.draining) {
      end();
      return () => {};
    }
    this.enders.add(end);
    return () => this.enders.delete(end);
  }

  /**
   * Ends every open event stream of this node (SIGTERM). Streams live up to ten minutes, so a drain
   * that waited for them would time out; each ends with a retry hint instead and its client resumes
   * on another node with Last-Event-ID, where the database has every event since. Returns how many.
   */
  drain(): number {
    this.draining = true;
    const ending = [...this.enders];
    this.enders.clear();
    for (const end of ending) end();
    return ending.length;
  }

  /** Called when the database announces a credential change of a user (revoked, disabled, role, password). */
  onAuthChange(fn: (userId: string) => void): () => void {
    this.authListeners.add(fn);
    return () => this.authListeners.delete(fn);
  }

  /** Open event streams of this node: each subscribes once, for as long as it is open (rter_event_streams_open). */
  get subscribers(): number {
    return this.listeners.size;
  }

  /** The newest event handed to subscribers: where a client without Last-Event-ID starts. */
  get lastDelivered(): string {
    return this.lastId;
  }

  get connected(): boolean {
    return this.client !== null;
  }

  /**
   * The number of the LISTEN connection now up, null while none is: what this node remembers
   * on the strength of notices (its credential cache) holds only within one connection, since
   * a notice sent while it was down is lost.
   */
  get generation(): number | null {
    return this.client ? this.connections : null;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5_000, keepAlive: true });
    client.on("notification", (n) => {
      if (n.channel !== AUTH_CHANNEL) return this.pull();
      for (const fn of this.authListeners) fn(n.payload ?? "");
    });
    client.on("error", (e) => this.lost(client, e));
    client.on("end", () => this.lost(client, new Error("connection ended")));
    await client.connect();
    await client.query(`LISTEN ${EVENTS_CHANNEL}; LISTEN ${AUTH_CHANNEL}`);
    this.connections++;
    this.client = client;
    this.delay = RECONNECT_MIN_MS;
    this.pull(); // whatever happened while we were not listening
  }

  private lost(client: pg.Client, e: Error): void {
    if (this.client !== client || this.stopped) return;
    this.client = null;
    this.log.warn("event listener lost its connection; reconnecting", { err: e.message });
    client.end().catch(() => {});
    const retry = () => {
      if (this.stopped) return;
      this.connect().catch((err) => {
        this.delay = Math.min(this.delay * 2, RECONNECT_MAX_MS);
        this.log.debug("event listener reconnect failed", { err: (err as Error).message });
        setTimeout(retry, this.delay);
      });
    };
    setTimeout(retry, this.delay);
  }

  /** Reads everything after lastId, once at a time; a notification during a read triggers another. */
  private pull(): void {
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = (async () => {
      do {
        this.again = false;
        for (;;) {
          const batch = await eventsAfter(this.db, this.lastId, BATCH);
          let held = false;
          for (const e of batch) {
            if (BigInt(e.id) !== BigInt(this.lastId) + 1n && this.lastId !== "0" && Date.now() - Date.parse(e.created_at) < GAP_HOLD_MS) {
              held = true;
              setTimeout(() => this.pull(), 100);
              break;
            }
            this.lastId = e.id;
            for (const l of this.listeners) l(e);
          }
          if (held || batch.length < BATCH) break;
        }
      } while (this.again);
    })()
      .catch((e) => this.log.debug("event read failed", { err: (e as Error).message }))
      .finally(() => {
        this.reading = null;
      });
  }
}
