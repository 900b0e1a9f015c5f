// The live grid's still, made here: every few seconds the phone draws its own camera frame small
// and sends it as a JPEG (PUT /api/v1/streams/{id}/poster), so the server never decodes video for
// a live tile. Best effort and not evidence: a still that fails is skipped, never queued (the
// outbox carries only what must arrive).

/** About as often as the server's own poster interval; a fresh still keeps its poster job away. */
export const POSTER_EVERY_MS = 2_500;
/** A grid tile is a few hundred pixels wide; 320 px keeps a still near 10–20 KB. */
export const POSTER_WIDTH = 320;

export interface PosterLoopDeps {
  /** Sends one still; rejects or returns false when it was not taken. */
  send(jpeg: Blob): Promise<boolean>;
  /** True while sending makes sense (page visible, online). */
  ready(): boolean;
}

/** A still of the video element's current frame, or null while it has none yet. */
export async function grabStill(video: HTMLVideoElement, width = POSTER_WIDTH, quality = 0.7): Promise<Blob | null> {
  if (!video.videoWidth || !video.videoHeight) return null;
  const w = Math.min(width, video.videoWidth);
  const h = Math.max(1, Math.round((video.videoHeight * w) / video.videoWidth));
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  if (!ctx) return null;
  ctx.drawImage(video, 0, 0, w, h);
  return new Promise((resolve) => canvas.toBlob((b) => resolve(b), "image/jpeg", quality));
}

/** Starts the loop; the returned function stops it. One still in flight at most. */
export function startPosterLoop(video: HTMLVideoElement, deps: PosterLoopDeps, everyMs = POSTER_EVERY_MS): () => void {
  let busy = false;
  let stopped = false;
  const tick = async () => {
    if (busy || stopped || !deps.ready()) return;
    busy = true;
    try {
      const still = await grabStill(video);
      if (still && !stopped) await deps.send(still);
    } catch {
      // A still is replaceable: the next tick makes another.
    } finally {
      busy = false;
    }
  };
  const first = setTimeout(tick, 500);
  const timer = setInterval(tick, everyMs);
  return () => {
    stopped = true;
    clearTimeout(first);
    clearInterval(timer);
  };
}
