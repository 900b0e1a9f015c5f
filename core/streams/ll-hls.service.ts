import type { Kysely } from "kysely";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import type { ObjectStore } from "../storage/store.ts";
import * as repo from "./cmaf-parts.repository.ts";
import { planList, prefixOf, reloadState, renderList, type LlList, type LlPrefix } from "./ll-hls.ts";
import type { PartWaiter } from "./part-waiter.ts";
import { databaseNowMs } from "./streams.repository.ts";

/**
 * LL-HLS playback of a CMAF stream: the playlist with blocking reload, the init, parts and whole
 * segments. Blocked requests wait on the node's PartWaiter (LISTEN), never on a pooled connection:
 * each look at the list is one short query.
 */
export interface LlHlsDeps {
  db: Kysely<DB>;
  store: ObjectStore;
  waiter: PartWaiter;
  /** This node's shared reads and closed prefixes of live lists. */
  lists: LlListCache;
}

/** A blocking reload waits at most this many target durations, then answers 503 (the HLS spec's advice). */
const HOLD_TARGETS = 3;
/** After the gap wait ends, look again this much later so the database clock has surely passed it. */
const JUMP_SLACK_MS = 20;
/** A segment URI may name at most this many parts (a real one has ~8; MAX_SEGMENT_SEC at 0.2 s parts is 30). */
export const MAX_SEGMENT_PARTS = 64;

export interface ReloadQuery {
  msn: number | null;
  part: number | null;
}

const INT = /^\d{1,9}$/;

/** _HLS_msn / _HLS_part from the query string. _HLS_skip is accepted and ignored: we always send the whole list (no delta updates). */
export function parseReload(q: Record<string, string | undefined>): ReloadQuery {
  const num = (name: string) => {
    const v = q[name];
    if (v === undefined) return null;
    if (!INT.test(v)) throw new AppError("bad_request", `${name} must be a whole number`);
    return Number(v);
  };
  const msn = num("_HLS_msn");
  const part = num("_HLS_part");
  if (part !== null && msn === null) throw new AppError("bad_request", "_HLS_part needs _HLS_msn");
  return { msn, part };
}

const MAX_PREFIXES = 5_000;

/**
 * One node's live lists (on the node's API context, core/runtime.ts):
 * - Every viewer of a stream wakes at the same commit notice: those that find a read of the list
 *   already under way since that notice take its result instead of querying again.
 * - Per stream, the closed segments of its live list: they never change, so each read fetches
 *   only the parts after them (a stream an hour long is 14,400 quarter-second parts). Every node
 *   derives the same prefix from the same rows.
 */
export class LlListCache {
  /** How many times a list was read from the database (each shared read counts once). */
  reads = 0;
  private readonly reading = new Map<string, { generation: string; list: Promise<LlList> }>();
  private readonly prefixes = new Map<string, LlPrefix>();
  /** Owner of each CMAF stream seen here (lower-case id → owner id). */
  private readonly owners = new Map<string, string>();

  /**
   * A CMAF stream this node has read before: its id and owner, enough for the access rule
   * (assertCanView) without reading the row again at every reload. Safe to keep: a stream's owner
   * never changes and its format never changes once set; the caller's role is judged per request
   * from its credential; and a deleted stream is found gone by the list read itself (404).
   */
  knownCmaf(streamId: string): { id: string; owner_id: string } | undefined {
    const id = streamId.toLowerCase();
    const owner = this.owners.get(id);
    return owner === undefined ? undefined : { id, owner_id: owner };
  }

  rememberCmaf(stream: { id: string; owner_id: string; media_format: string | null }): void {
    if (stream.media_format !== "cmaf") return;
    if (this.owners.size >= MAX_PREFIXES) this.owners.delete(this.owners.keys().next().value!);
    this.owners.set(stream.id.toLowerCase(), stream.owner_id);
  }

  /** The stream's list, shared with the reads of the same commit generation. */
  shared(db: Kysely<DB>, waiter: PartWaiter, streamId: string): Promise<LlList> {
    const generation = waiter.generation(streamId);
    const current = this.reading.get(streamId);
    if (current && current.generation === generation) return current.list;
    const list: Promise<LlList> = this.load(db, streamId).finally(() => {
      if (this.reading.get(streamId)?.list === list) this.reading.delete(streamId);
    });
    this.reading.set(streamId, { generation, list });
    return list;
  }

  private async load(db: Kysely<DB>, streamId: string): Promise<LlList> {
    this.reads++;
    const prefix = this.prefixes.get(streamId) ?? null;
    const { parts, nowMs, state } = await repo.listParts(db, streamId, prefix?.nextSeq ?? 0);
    if (state === null) {
      // Deleted (its row is gone) since the request found it: what it remembers of it goes too.
      this.prefixes.delete(streamId);
      this.owners.delete(streamId.toLowerCase());
      throw new AppError("not_found", "no such stream");
    }
    if (state === "live") {
      const list = planList(parts, { finished: false, nowMs, prefix });
      const next = prefixOf(list, prefix);
      if (next && next !== prefix) {
        if (!this.prefixes.has(streamId) && this.prefixes.size >= MAX_PREFIXES) this.prefixes.clear();
        this.prefixes.set(streamId, next);
      }
      return list;
    }
    // Finished = the stream takes no more parts: every part it has is in the list, late ones too.
    this.prefixes.delete(streamId);
    const all = prefix ? await repo.listParts(db, streamId) : { parts };
    return planList(all.parts, { finished: true, nowMs });
  }
}

function sharedLoad(deps: LlHlsDeps, streamId: string): Promise<LlList> {
  return deps.lists.shared(deps.db, deps.waiter, streamId);
}

/**
 * The playlist; with _HLS_msn it is held until that segment (and _HLS_part, that part) is listed,
 * answered as soon as the part commits. Too far ahead → 400; not there after 3 target durations → 503.
 */
export async function llPlaylist(deps: LlHlsDeps, streamId: string, q: ReloadQuery, signal?: AbortSignal): Promise<{ text: string; finished: boolean }> {
  let deadline: number | null = null;
  for (;;) {
    // Subscribe before reading, so a commit between the read and the wait is not missed.
    const wake = q.msn === null ? null : deps.waiter.wait(streamId, 60_000, signal);
    try {
      // Once holding, a slow read (a busy pool) counts against the hold too: the answer is a 503
      // at the deadline, never a request that outlives it.
      const list: LlList = deadline === null ? await sharedLoad(deps, streamId) : await beforeDeadline(sharedLoad(deps, streamId), deadline);
      if (q.msn === null) return { text: renderList(list), finished: list.finished };
      const state = reloadState(list, q.msn, q.part);
      if (state === "ready") return { text: renderList(list), finished: list.finished };
      if (state === "ahead")
        throw new AppError(
          "bad_request",
          `_HLS_msn=${q.msn}${q.part === null ? "" : ` _HLS_part=${q.part}`} is too far ahead of the playlist (last segment ${list.segments.length - 1})`,
        );
      deadline ??= Date.now() + HOLD_TARGETS * list.targetSec * 1000;
      if (signal?.aborted) throw new AppError("request_timeout", "the client went away");
      const left = deadline - Date.now();
      if (left <= 0) throw new AppError("unavailable", "the requested part did not arrive in time", { retryAfterSeconds: 1 });
      // A stalled list jumps its gap by the clock, not by a commit: wake up for that too.
      const jumpIn = list.jumpAtMs === null ? Infinity : list.jumpAtMs - (await beforeDeadline(databaseNowMs(deps.db), deadline)) + JUMP_SLACK_MS;
      await Promise.race([wake!.done, Bun.sleep(Math.max(0, Math.min(left, jumpIn)))]);
    } finally {
      wake?.cancel();
    }
  }
}

/** `p`, or the blocking reload's 503 when the deadline comes first (p's result is then dropped). */
async function beforeDeadline<T>(p: Promise<T>, deadline: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new AppError("unavailable", "the requested part did not arrive in time", { retryAfterSeconds: 1 })),
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
    p.catch(() => {});
  }
}

/** The init segment (ftyp+moov). */
export async function llInit(deps: LlHlsDeps, streamId: string) {
  const init = await repo.findInit(deps.db, streamId);
  if (!init) throw new AppError("not_found", "this stream has no init segment yet");
  return init;
}

/**
 * One part as stored. The part a playlist hints at (the next seq) may be asked for before it
 * exists: such a request waits for its commit, up to `holdMs`.
 */
export async function llPart(deps: LlHlsDeps, stream: { id: string; state: string }, seq: number, holdMs: number, signal?: AbortSignal) {
  const streamId = stream.id;
  const deadline = Date.now() + holdMs;
  for (;;) {
    const wake = deps.waiter.wait(streamId, holdMs, signal);
    try {
      const part = await repo.findPart(deps.db, streamId, seq);
      if (part) return part;
      // Only the next part (or one inside a gap the list waits at) is worth waiting for, and only while live.
      if (stream.state !== "live" || seq > (await repo.maxPartSeq(deps.db, streamId)) + 1 || signal?.aborted) throw new AppError("not_found", `no part ${seq}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new AppError("not_found", `part ${seq} has not arrived`);
      await Promise.race([wake.done, Bun.sleep(left)]);
    } finally {
      wake.cancel();
    }
  }
}

/** The parts of `segments/{first}-{last}.m4s`: every seq in the range must be listed. */
export async function llSegmentParts(deps: LlHlsDeps, streamId: string, first: number, last: number) {
  if (last < first || last - first + 1 > MAX_SEGMENT_PARTS) throw new AppError("not_found", `no segment ${first}-${last}`);
  const parts = await repo.partRange(deps.db, streamId, first, last);
  if (parts.length !== last - first + 1) throw new AppError("not_found", `no segment ${first}-${last}: parts are missing`);
  return parts;
}

/** The concatenation of objects, streamed one after the other (no copy is stored). */
export function concatObjects(store: ObjectStore, keys: string[]): ReadableStream<Uint8Array> {
  let i = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      for (;;) {
        if (!reader) {
          if (i >= keys.length) return ctl.close();
          reader = (await store.get(keys[i++]!)).getReader();
        }
        const { done, value } = await reader.read();
        if (!done) return ctl.enqueue(value);
        reader = null;
      }
    },
    async cancel(reason) {
      await reader?.cancel(reason);
    },
  });
}
