// Several recordings on one wall clock: each player is placed by its playlist's
// PROGRAM-DATE-TIME (the capture clock of every segment), then held within a few tenths of a
// second of the shared clock by nudging currentTime from hls.js' playingDate.

import Hls from "hls.js";
import { positionOfDate } from "./clock.ts";

export interface SyncedPlayer {
  readonly streamId: string;
  readonly video: HTMLVideoElement;
  playingDate(): number | null;
  /** The playlist (as first read) has media at wall-clock time t (ms). */
  hasMediaAt(t: number): boolean;
  /** Puts the frame of wall-clock time t on screen (ms). */
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
    else setTimeout(() => !destroyed && hls.startLoad(), 2_000);
  });
  hls.loadSource(src);
  hls.attachMedia(video);
  return {
    streamId,
    video,
    playingDate: () => hls.playingDate?.getTime() ?? null,
    hasMediaAt: (t: number) => positionOfDate(text, t) !== null,
    seek(t: number) {
      const now = hls.playingDate?.getTime();
      if (now !== undefined && now !== null && Number.isFinite(now)) video.currentTime = Math.max(0, video.currentTime + (t - now) / 1000);
      else {
        const p = positionOfDate(text, t);
        if (p !== null) video.currentTime = p;
      }
    },
    destroy() {
      destroyed = true;
      hls.destroy();
      video.removeAttribute("src");
    },
  };
}
