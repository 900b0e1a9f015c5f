/**
 * Which CMAF parts a playlist lists, and where it jumps: the rule shared by the live playlist
 * (core/streams/ll-hls.ts) and the ingest's `late` flag (decided in SQL at the insert:
 * cmaf-ingest.repository.ts storePart, with GAP_WAIT_MS). Pure: the caller passes the database's
 * clock, so every API node decides the same way at the same moment.
 *
 * Live: parts are listed in seq order. At a missing seq the list stops — the phone may still be
 * sending it — unless the next present part was received more than GAP_WAIT_MS ago; then the
 * missing seqs are skipped and the next part starts with a discontinuity. A part that arrives
 * for a skipped seq is `late`: it is left out of the live list (inserting it would renumber what
 * players already have) and shows up in the finished list and the recording.
 */

/** How long a missing part holds the live list before the list jumps past it. */
export const GAP_WAIT_MS = 3_000;

export interface GapPart {
  seq: number;
  receivedAt: Date;
  late: boolean;
}

/** A part as a playlist lists it. */
export interface ListedPart<P> {
  part: P;
  /** Timestamps jump before this part (seqs are missing): #EXT-X-DISCONTINUITY. */
  discontinuity: boolean;
  /**
   * A segment must start here. Set at every discontinuity, and in the finished list at both edges
   * of a run of late parts, so the segments the live list had stay exactly the same.
   */
  boundary: boolean;
}

export interface LiveView<P> {
  listed: ListedPart<P>[];
  /** The missing seq the list waits at, or null when it lists every part it has. */
  stalledAt: number | null;
  /** When (ms, database clock) the wait at stalledAt ends and the list jumps; null when not stalled. */
  jumpAtMs: number | null;
}

/** Where a live list continues from: the next seq it expects, and whether it has listed any part before. */
export interface LiveStart {
  expected: number;
  listedBefore: boolean;
}

/**
 * The live list: non-late parts in seq order, stopping at a fresh gap. `parts` must be sorted by
 * seq. With `from`, the list continues one already decided up to `from.expected` (parts before it
 * are ignored): the decisions of the rule never change once taken, so the result is the tail of
 * what the whole list would give.
 */
export function liveView<P extends GapPart>(
  parts: readonly P[],
  nowMs: number,
  gapWaitMs = GAP_WAIT_MS,
  from: LiveStart = { expected: 0, listedBefore: false },
): LiveView<P> {
  const listed: ListedPart<P>[] = [];
  let expected = from.expected;
  for (const p of parts) {
    if (p.late || p.seq < expected) continue;
    if (p.seq > expected) {
      const jumpAtMs = p.receivedAt.getTime() + gapWaitMs;
      if (nowMs <= jumpAtMs) return { listed, stalledAt: expected, jumpAtMs };
      const jump = listed.length > 0 || from.listedBefore;
      listed.push({ part: p, discontinuity: jump, boundary: jump });
    } else {
      listed.push({ part: p, discontinuity: false, boundary: false });
    }
    expected = p.seq + 1;
  }
  return { listed, stalledAt: null, jumpAtMs: null };
}

/** The finished list: every part, late ones in their place; discontinuities only where seqs are still missing. */
export function finishedView<P extends GapPart>(parts: readonly P[]): ListedPart<P>[] {
  const out: ListedPart<P>[] = [];
  let prev: P | null = null;
  for (const p of parts) {
    if (prev && p.seq === prev.seq) continue;
    const discontinuity = prev !== null && p.seq !== prev.seq + 1;
    out.push({ part: p, discontinuity, boundary: discontinuity || (prev !== null && p.late !== prev.late) });
    prev = p;
  }
  return out;
}
