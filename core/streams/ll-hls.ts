import { finishedView, liveView, type ListedPart } from "./cmaf-gaps.ts";

/**
 * The Low-Latency HLS playlist of a CMAF stream, as a pure function of its parts (chunks rows in
 * state 'listed'), the database clock and whether the stream is finished. Every API node builds
 * the same list from the same rows, so segment numbers agree across nodes.
 *
 * Segments are made of parts, greedily and in order: a segment closes before an independent part
 * once it holds at least SEGMENT_MIN_SEC, before any part once it holds MAX_SEGMENT_SEC (a phone
 * that stopped sending key frames must not make one endless segment), and at every boundary the
 * gap rule sets. Closing depends only on the parts up to the decision, so a list that grows never
 * regroups what it already had.
 *
 * A segment's URI names its part range (`segments/{first}-{last}.m4s`), not its media sequence
 * number: once a stream is finished its late parts join the list and the numbers after them
 * shift, while the part ranges of the other segments stay the same (the gap rule puts segment
 * boundaries at both edges of a late run). So a segment URL always names the same bytes and may
 * be cached as immutable.
 */

/** The part of a chunks row the playlist needs. */
export interface LlPart {
  seq: number;
  /** Seconds. */
  duration: number;
  independent: boolean;
  captureStart: Date | null;
  receivedAt: Date;
  late: boolean;
}

/** A segment closes before an independent part once it holds this much (seconds). */
export const SEGMENT_MIN_SEC = 1.5;
/** A segment closes before any part once it holds this much, key frame or not (seconds). */
export const MAX_SEGMENT_SEC = 6;
/** TARGETDURATION never goes below this (seconds); it is also the list's target before any segment closes. */
export const MIN_TARGET_SEC = 2;
/** EXT-X-PART tags are listed for segments ending within this many target durations of the end (the spec's window). */
export const PART_WINDOW_TARGETS = 3;
/** PART-HOLD-BACK in part target durations (the spec asks for at least 2, recommends 3). */
export const PART_HOLD_BACK_PARTS = 3;

export interface LlEntry extends ListedPart<LlPart> {
  /** Wall-clock time of the part's first frame. */
  pdt: Date;
}

export interface LlSegment {
  msn: number;
  parts: LlEntry[];
  /** A later part started the next segment, or the list is finished: the segment will not grow. */
  closed: boolean;
  duration: number;
}

export interface LlList {
  segments: LlSegment[];
  finished: boolean;
  targetSec: number;
  partTargetSec: number;
  /** The seq a player should ask for next (#EXT-X-PRELOAD-HINT); null once finished. */
  nextSeq: number | null;
  /** Live list stalled at a gap: when (database clock, ms) it will jump. */
  jumpAtMs: number | null;
}

/** Rounds seconds up to the millisecond (a part of 0.25 s stays 0.25, not 0.251). */
function ceilMs(sec: number): number {
  return Math.ceil(sec * 1000 - 1e-6) / 1000;
}

/** PDT: the capture time the phone sent; else the previous part's PDT + its duration when it directly precedes; else when it was received. */
function withPdt(listed: ListedPart<LlPart>[], before: LlEntry | null = null): LlEntry[] {
  const out: LlEntry[] = [];
  for (const e of listed) {
    const prev = out.at(-1) ?? before;
    const pdt =
      e.part.captureStart ?? (prev && prev.part.seq === e.part.seq - 1 ? new Date(prev.pdt.getTime() + prev.part.duration * 1000) : e.part.receivedAt);
    out.push({ ...e, pdt });
  }
  return out;
}

/** Groups entries into segments (see the module comment). */
export function groupSegments(entries: LlEntry[], finished: boolean, firstMsn = 0): LlSegment[] {
  const segments: LlSegment[] = [];
  let cur: LlSegment | null = null;
  for (const e of entries) {
    const startsNew = !cur || e.boundary || (e.part.independent && cur.duration >= SEGMENT_MIN_SEC - 1e-6) || cur.duration >= MAX_SEGMENT_SEC - 1e-6;
    if (startsNew) {
      if (cur) cur.closed = true;
      cur = { msn: firstMsn + segments.length, parts: [], closed: false, duration: 0 };
      segments.push(cur);
    }
    cur!.parts.push(e);
    cur!.duration += e.part.duration;
  }
  if (finished && cur) cur.closed = true;
  return segments;
}

/**
 * The closed segments of a live list, to continue it from (see planList's `prefix`). Closed
 * segments never change, so a node keeps them and reads only the parts after them. Segments that
 * ended long before the prefix's end (beyond any part window) keep only their first and last
 * part: all a playlist shows of them.
 */
export interface LlPrefix {
  segments: LlSegment[];
  /** The seq after the last part of the last closed segment. */
  nextSeq: number;
  last: LlEntry;
  longestSegmentSec: number;
  longestPartSec: number;
}

/** Prefix segments ending this long before the prefix's end keep only their first and last part. */
const FULL_PARTS_SEC = PART_WINDOW_TARGETS * MAX_SEGMENT_SEC + MAX_SEGMENT_SEC;

export function prefixOf(list: LlList, previous: LlPrefix | null = null): LlPrefix | null {
  if (list.finished) return null;
  const closed = list.segments.filter((s) => s.closed);
  if (closed.length === 0) return previous;
  const segments: LlSegment[] = [];
  let after = 0; // seconds from this segment's end to the prefix's end
  for (let i = closed.length - 1; i >= 0; i--) {
    const s = closed[i]!;
    segments.unshift(after < FULL_PARTS_SEC || s.parts.length <= 2 ? s : { ...s, parts: [s.parts[0]!, s.parts.at(-1)!] });
    after += s.duration;
  }
  const lastSeg = closed.at(-1)!;
  const fresh = closed.filter((s) => !previous || s.msn >= previous.segments.length);
  return {
    segments,
    nextSeq: lastSeg.parts.at(-1)!.part.seq + 1,
    last: lastSeg.parts.at(-1)!,
    longestSegmentSec: Math.max(previous?.longestSegmentSec ?? 0, ...fresh.map((s) => s.duration)),
    longestPartSec: Math.max(previous?.longestPartSec ?? 0, ...fresh.flatMap((s) => s.parts.map((e) => e.part.duration))),
  };
}

/**
 * The list from the stream's parts (sorted by seq; late ones are left out while live).
 * `nowMs` is the database clock, for the gap rule. A live list may continue a `prefix` of itself
 * computed earlier; then only parts from `prefix.nextSeq` on matter (others are ignored).
 */
export function planList(parts: readonly LlPart[], opts: { finished: boolean; nowMs: number; gapWaitMs?: number; prefix?: LlPrefix | null }): LlList {
  const prefix = opts.finished ? null : (opts.prefix ?? null);
  const live = opts.finished ? null : liveView(parts, opts.nowMs, opts.gapWaitMs, prefix ? { expected: prefix.nextSeq, listedBefore: true } : undefined);
  const entries = withPdt(live ? live.listed : finishedView(parts), prefix?.last ?? null);
  const tail = groupSegments(entries, opts.finished, prefix?.segments.length ?? 0);
  const segments = prefix ? [...prefix.segments, ...tail] : tail;
  const closed = tail.filter((s) => s.closed);
  const targetSec = Math.max(MIN_TARGET_SEC, Math.round(prefix?.longestSegmentSec ?? 0), ...closed.map((s) => Math.round(s.duration)));
  const partTargetSec = ceilMs(Math.max(0.001, prefix?.longestPartSec ?? 0, ...entries.map((e) => e.part.duration)));
  const last = entries.at(-1)?.part.seq ?? (prefix ? prefix.nextSeq - 1 : -1);
  return {
    segments,
    finished: opts.finished,
    targetSec,
    partTargetSec,
    nextSeq: live ? (live.stalledAt ?? last + 1) : null,
    jumpAtMs: live?.jumpAtMs ?? null,
  };
}

const sec3 = (n: number) => n.toFixed(3);

/** The playlist text. Parts, the preload hint and server control only while live. */
export function renderList(list: LlList): string {
  const live = !list.finished;
  const lines = ["#EXTM3U", "#EXT-X-VERSION:9", `#EXT-X-TARGETDURATION:${list.targetSec}`];
  if (live) {
    lines.push(
      `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${sec3(list.partTargetSec * PART_HOLD_BACK_PARTS)}`,
      `#EXT-X-PART-INF:PART-TARGET=${sec3(list.partTargetSec)}`,
    );
  }
  lines.push("#EXT-X-MEDIA-SEQUENCE:0", `#EXT-X-PLAYLIST-TYPE:${live ? "EVENT" : "VOD"}`, '#EXT-X-MAP:URI="init.mp4"');
  const total = list.segments.reduce((a, s) => a + s.duration, 0);
  let end = 0;
  for (const s of list.segments) {
    end += s.duration;
    const first = s.parts[0]!;
    if (first.discontinuity && s.msn > 0) lines.push("#EXT-X-DISCONTINUITY");
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${first.pdt.toISOString()}`);
    if (live && (!s.closed || end > total - PART_WINDOW_TARGETS * list.targetSec)) {
      for (const e of s.parts)
        lines.push(`#EXT-X-PART:DURATION=${sec3(e.part.duration)},URI="parts/${e.part.seq}.m4s"${e.part.independent ? ",INDEPENDENT=YES" : ""}`);
    }
    if (s.closed) lines.push(`#EXTINF:${sec3(s.duration)},`, `segments/${first.part.seq}-${s.parts.at(-1)!.part.seq}.m4s`);
  }
  if (live && list.nextSeq !== null) lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="parts/${list.nextSeq}.m4s"`);
  if (!live) lines.push("#EXT-X-ENDLIST");
  return lines.join("\n") + "\n";
}

/** The newest segment in the list (the open one counts once it has a part), or -1. */
export function lastMsn(list: LlList): number {
  return list.segments.length - 1;
}

/**
 * Blocking reload (_HLS_msn / _HLS_part): "ready" when the list holds that part of that segment or
 * anything later, "ahead" when the request is further ahead than the spec lets a server wait for
 * (more than two segments, or more parts than the Advance Part Limit), else "wait".
 */
export function reloadState(list: LlList, msn: number, part: number | null): "ready" | "wait" | "ahead" {
  if (list.finished) return "ready";
  const top = lastMsn(list);
  if (msn > top + 2) return "ahead";
  const advanceParts = list.partTargetSec < 1 ? Math.floor(3 / list.partTargetSec) : 3;
  const openParts = top >= 0 && !list.segments[top]!.closed ? list.segments[top]!.parts.length : 0;
  if (part !== null && msn >= top && part > (msn === top ? openParts - 1 : -1) + advanceParts) return "ahead";
  if (msn < top) return "ready";
  if (msn > top) return "wait";
  const s = list.segments[top]!;
  if (part === null) return s.closed ? "ready" : "wait";
  return s.closed || s.parts.length > part ? "ready" : "wait";
}
