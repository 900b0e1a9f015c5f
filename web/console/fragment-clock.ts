// Wall-clock arithmetic over the playlist as hls.js holds it now (its fragments: media position,
// duration, PROGRAM-DATE-TIME), DOM-free so it is unit-tested. A live playlist can have holes:
// when the worker falls behind it jumps to the newest chunk and the skipped seconds are made
// later for the recording only (segmenting.service.ts), so the live list goes on with a
// discontinuity and a jump in date while its media positions stay contiguous. A date is therefore
// read from the fragment under the position, never extrapolated from another one across a hole.

export interface FragmentTime {
  /** Media position (s). */
  start: number;
  duration: number;
  /** Wall-clock ms of its first frame, null when the playlist has none. */
  programDateTime: number | null;
}

/** Wall-clock ms of media position pos, or null outside every dated fragment. */
export function dateAtPosition(frags: readonly FragmentTime[], pos: number): number | null {
  for (const f of frags) {
    if (f.programDateTime !== null && pos >= f.start && pos < f.start + f.duration) return f.programDateTime + (pos - f.start) * 1000;
  }
  return null;
}

export interface Place {
  /** Media position (s) to show for the instant. */
  position: number;
  /** The playlist has media at the instant; false: t falls in a hole and position is the first frame after it. */
  inside: boolean;
}

/** Where wall-clock time t (ms) is in the playlist; in a hole, the start of what follows it; null past its end. */
export function placeOfDate(frags: readonly FragmentTime[], t: number): Place | null {
  let next: FragmentTime | null = null;
  for (const f of frags) {
    if (f.programDateTime === null) continue;
    if (t >= f.programDateTime && t < f.programDateTime + f.duration * 1000) return { position: f.start + (t - f.programDateTime) / 1000, inside: true };
    if (f.programDateTime > t && (next === null || f.programDateTime < next.programDateTime!)) next = f;
  }
  return next ? { position: next.start, inside: false } : null;
}
