import { MediaError } from "./media-error.ts";
import type { MediaInfo } from "./media-info.ts";

/** What a chunk may be before any decoding starts. Checked against the in-process probe's findings. */
export interface MediaLimits {
  /** A chunk is a few seconds of a live stream; a longer claim is a wrong file or an attack. */
  readonly maxDurationSec: number;
  /** Longer side of the picture, in pixels (4K UHD in either orientation). */
  readonly maxLongSide: number;
  /** Shorter side of the picture, in pixels. */
  readonly maxShortSide: number;
  /** Either side below this is not a picture anyone can use (and breaks some encoders). */
  readonly minSide: number;
  /** Video codecs the capture clients produce and we can decode. */
  readonly videoCodecs: readonly string[];
  /** Audio codecs we copy (aac) or transcode to AAC. */
  readonly audioCodecs: readonly string[];
}

export const DEFAULT_LIMITS: MediaLimits = Object.freeze({
  maxDurationSec: 30,
  maxLongSide: 3840,
  maxShortSide: 2160,
  minSide: 16,
  videoCodecs: Object.freeze(["h264", "hevc", "vp8", "vp9"]),
  audioCodecs: Object.freeze(["aac", "opus", "mp3", "vorbis"]),
});

function reject(reason: string): never {
  throw new MediaError("unprocessable", reason);
}

/**
 * Throws MediaError("unprocessable") with a one-line reason when a chunk is outside the limits.
 * Runs on the probe result, so a file claiming ten hours or 16K is refused before ffmpeg
 * decodes a single frame. Sides are compared orientation-free: a portrait phone is 2160×3840.
 */
export function checkLimits(info: MediaInfo, limits: MediaLimits = DEFAULT_LIMITS): void {
  const v = info.video;
  if (!v) reject("no video stream");
  if (!limits.videoCodecs.includes(v.codec)) reject(`unsupported video codec "${v.codec}" (supported: ${limits.videoCodecs.join(", ")})`);
  if (info.audio && !limits.audioCodecs.includes(info.audio.codec)) {
    reject(`unsupported audio codec "${info.audio.codec}" (supported: ${limits.audioCodecs.join(", ")})`);
  }
  if (info.durationSec === null || !Number.isFinite(info.durationSec) || info.durationSec <= 0) reject("duration unknown");
  if (info.durationSec > limits.maxDurationSec) {
    reject(`duration ${info.durationSec.toFixed(1)} s is over the ${limits.maxDurationSec} s limit for a chunk`);
  }
  // Every size the bitstream declares: a small first frame must not vouch for a huge later one.
  for (const { width, height } of [{ width: v.width, height: v.height }, ...(v.sizes ?? [])]) {
    const long = Math.max(width, height);
    const short = Math.min(width, height);
    if (!Number.isFinite(short) || short < limits.minSide) reject(`picture ${width}x${height} is smaller than ${limits.minSide} px on a side`);
    if (long > limits.maxLongSide || short > limits.maxShortSide) {
      reject(`picture ${width}x${height} is over the ${limits.maxLongSide}x${limits.maxShortSide} limit`);
    }
  }
}
