// Several recordings on one wall clock: each player is placed by its playlist's
// PROGRAM-DATE-TIME (the capture clock of every segment), then held within a few tenths of a
// second of the shared clock. Dates and positions are read from the fragments hls.js holds now
// (fragment-clock.ts), not from hls.playingDate: that one extrapolates from the fragment last
// played, so across a hole in a live playlist (or right after a seek) it was seconds off, and
// the seek computed from it sent the player elsewhere again.

import Hls from "hls.js";
import { positionOfDate } from "./clock.ts";
import { dateAtPosition, placeOfDate, type FragmentTime } from "./fragment-clock.ts";
import { playsOn } from "./sync-clock.ts";

export interface SyncedPlayer {
  readonly streamId: string;
  readonly video: HTMLVideoElement;
  playingDate(): number | null;
  /** Not seeking, with media to play on from where it stands (sync-clock.ts playsOn). */
  ready(): boolean;
  /** The playlist (as hls.js holds it now) has media at wall-clock time t (ms): not past its end, not in a hole. */
  hasMediaAt(t: number): boolean;
  /** Puts the frame of wall-clock time t (ms) on screen; in a hole, the first frame after it. */
  seek(t: number): void;
  destroy(): void;
}

export async function syncedPlayer(streamId: string, video: HTMLVideoElement, src: string, at: number): Promise<SyncedPlayer> {
  video.muted = true;
  video.playsInline = true;
  const text = await fetch(src, { credentials: "same-origin", signal: AbortSignal.timeout(10_000) }).then((r) => (r.ok ? r.text() : ""));
  const start = positionOfDate(text, at) ?? 0;
  // No live-edge chasing: a recording in progress is played where the clock says, like a finished one.
  const hls = new Hls({ startPosition: start, lowLatencyMode: false, maxBufferLength: 10, backBufferLength: 30 });
  let destroyed = false;
  hls.on(Hls.Events.ERROR, (_e, data) => {
    if (!data.fatal || destroyed) return;
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
    // From where it stood: a bare startLoad() would start a live playlist at its live edge.
    else setTimeout(() => !destroyed && hls.startLoad(video.currentTime), 2_000);
  });
  hls.loadSource(src);
  hls.attachMedia(video);
  const frags = (): readonly FragmentTime[] => hls.latestLevelDetails?.fragments ?? [];
  return {
    streamId,
    video,
    playingDate: () => (video.readyState < HTMLMediaElement.HAVE_METADATA ? null : dateAtPosition(frags(), video.currentTime)),
    ready() {
      if (video.seeking || video.readyState < HTMLMediaElement.HAVE_FUTURE_DATA) return false;
      const b = video.buffered;
      const ranges = Array.from({ length: b.length }, (_, i) => ({ start: b.start(i), end: b.end(i) }));
      const last = frags().at(-1);
      return playsOn(ranges, video.currentTime, last ? last.start + last.duration : null);
    },
    hasMediaAt: (t: number) => (frags().length ? placeOfDate(frags(), t)?.inside === true : positionOfDate(text, t) !== null),
    seek(t: number) {
      const p = frags().length ? placeOfDate(frags(), t)?.position : positionOfDate(text, t);
      if (p !== undefined && p !== null) video.currentTime = p;
    },
    destroy() {
      destroyed = true;
      hls.destroy();
      video.removeAttribute("src");
    },
  };
}
