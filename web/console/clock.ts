// Wall-clock arithmetic of the replay and the timeline, kept free of the DOM and of hls.js so
// that it is unit-tested (clock.test.ts).

/** Media-timeline position (s) of wall-clock time t (ms) in an HLS playlist, or null when outside it. */
export function positionOfDate(playlist: string, t: number): number | null {
  let pdt: number | null = null;
  let pos = 0;
  let duration = 0;
  for (const raw of playlist.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#EXT-X-PROGRAM-DATE-TIME:")) pdt = Date.parse(line.slice(25));
    else if (line.startsWith("#EXTINF:")) duration = parseFloat(line.slice(8));
    else if (line && !line.startsWith("#")) {
      if (pdt !== null && t >= pdt && t < pdt + duration * 1000) return pos + (t - pdt) / 1000;
      // Before the first segment: its start. (A gap between segments: the next one's start.)
      if (pdt !== null && t < pdt) return pos;
      pos += duration;
      if (pdt !== null) pdt += duration * 1000;
    }
  }
  return null;
}

/** Last sample at or before t (binary search); the first one when t is before them all. */
export function sampleAt<T extends { t: number }>(track: readonly T[], t: number): T | null {
  if (!track.length) return null;
  let lo = 0;
  let hi = track.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (track[mid]!.t <= t) lo = mid;
    else hi = mid - 1;
  }
  return track[lo]!;
}
