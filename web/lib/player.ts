// One HLS player per video element, tuned for low latency on our EVENT playlists of 1–2 s
// segments: start near the live edge, catch up by playing slightly faster, jump when far behind.
// CMAF streams are Low-Latency HLS: the player follows the server's PART-HOLD-BACK (three parts,
// under a second) and asks for each next part with a blocking reload.

import Hls from "hls.js";

export interface Player {
  /** Seconds between now and the wall-clock time (PROGRAM-DATE-TIME) of the frame on screen. */
  latency(): number | null;
  /** Wall-clock time of the frame on screen. */
  playingDate(): Date | null;
  destroy(): void;
}

/** A master or media playlist: retried long and often (a live list is fetched every part). */
const LIST_LOAD_POLICY = {
  default: {
    maxTimeToFirstByteMs: 8_000,
    maxLoadTimeMs: 10_000,
    timeoutRetry: { maxNumRetry: 20, retryDelayMs: 500, maxRetryDelayMs: 4_000 },
    errorRetry: { maxNumRetry: 20, retryDelayMs: 500, maxRetryDelayMs: 4_000 },
  },
};

export function attach(video: HTMLVideoElement, src: string, opts: { live: boolean; parts?: boolean; onError?: (msg: string) => void }): Player {
  video.muted = true;
  video.playsInline = true;
  if (!Hls.isSupported()) {
    // Safari plays HLS natively (no PROGRAM-DATE-TIME clock then).
    video.src = src;
    void video.play().catch(() => {});
    return { latency: () => null, playingDate: () => null, destroy: () => video.removeAttribute("src") };
  }
  // Whole segments: sit 1.2 s behind the edge. Parts: none of the liveSync*/liveMaxLatency*
  // settings, so hls.js targets the playlist's PART-HOLD-BACK (any of them would override it, and
  // hls.js refuses a max latency without its sync twin); playing faster catches up instead.
  const latency = opts.parts ? {} : { liveSyncDuration: 1.2, liveMaxLatencyDuration: 6 };
  const hls = new Hls({
    lowLatencyMode: true,
    ...latency,
    maxLiveSyncPlaybackRate: 1.5,
    initialLiveManifestSize: 1,
    // Live playlists are sent with max-age=1: revalidate, or a reload may see a list a second old.
    xhrSetup: (xhr: XMLHttpRequest, url: string) => {
      if (opts.live && url.includes(".m3u8")) xhr.setRequestHeader("cache-control", "no-cache");
    },
    maxBufferLength: opts.live ? 8 : 30,
    backBufferLength: opts.live ? 20 : 60,
    manifestLoadPolicy: LIST_LOAD_POLICY,
    playlistLoadPolicy: LIST_LOAD_POLICY,
    fragLoadPolicy: {
      default: {
        maxTimeToFirstByteMs: 8_000,
        maxLoadTimeMs: 20_000,
        timeoutRetry: { maxNumRetry: 6, retryDelayMs: 300, maxRetryDelayMs: 4_000 },
        errorRetry: { maxNumRetry: 6, retryDelayMs: 300, maxRetryDelayMs: 4_000 },
      },
    },
  });
  let destroyed = false;
  let retry: ReturnType<typeof setTimeout> | null = null;
  hls.on(Hls.Events.ERROR, (_e, data) => {
    if (!data.fatal || destroyed) return;
    opts.onError?.(`${data.type}: ${data.details}`);
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
    else retry = setTimeout(() => !destroyed && hls.startLoad(), 2_000);
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => void video.play().catch(() => {}));
  hls.loadSource(src);
  hls.attachMedia(video);
  return {
    playingDate: () => hls.playingDate,
    latency: () => {
      const d = hls.playingDate;
      return d && !video.paused ? (Date.now() - d.getTime()) / 1000 : null;
    },
    destroy: () => {
      destroyed = true;
      if (retry) clearTimeout(retry);
      hls.destroy();
    },
  };
}
