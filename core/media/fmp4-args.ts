import { inputArgs } from "./ffmpeg-args.ts";

/**
 * Pure ffmpeg arguments for fragmented MP4 (a CMAF stream's init + parts written into one file).
 * The input is pinned to the MP4 demuxer and local files (inputArgs): the bytes came from a phone,
 * and ffmpeg must neither guess another format from them nor follow a reference out of the file.
 */

const COMMON = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"];
const INPUT = (input: string) => inputArgs(input, "mp4");

/** Longest side of the poster JPEG (as for classic streams). */
export const FMP4_POSTER_WIDTH = 480;

/**
 * The parts → one MP4 for download, nothing re-encoded, timestamps as the phone wrote them (its
 * decode times run on across parts, so the recording is as long as the parts together).
 *
 * Written fragmented (a fragment per key frame) with the moov and a global sidx index first, so
 * it plays and seeks while downloading like a faststart file. Not a flat faststart MP4: a
 * browser's capture timestamps jitter by a few ms, and from a flat file's sample table ffmpeg
 * guesses the nominal frame rate (20 fps), at which two jittered frames can share a tick — a
 * plain `ffmpeg -i recording.mp4` then complains of non-monotonic timestamps though the file is
 * sound. The fragmented file is read at the encoder's declared timing, as the parts are.
 */
export function fmp4RecordingArgs({ input, output }: { input: string; output: string }): string[] {
  return [...COMMON, ...INPUT(input), "-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy", "-movflags", "+frag_keyframe+empty_moov+default_base_moof+global_sidx", "-f", "mp4", output];
}

/** The first frame of init + one independent part (a key frame) as a JPEG. */
export function fmp4PosterArgs({ input, output, width = FMP4_POSTER_WIDTH }: { input: string; output: string; width?: number }): string[] {
  const w = Math.max(16, Math.round(width));
  return [...COMMON, ...INPUT(input), "-map", "0:v:0", "-an", "-frames:v", "1", "-vf", `scale='min(${w},iw)':-2`, "-q:v", "4", "-f", "image2", "-update", "1", output];
}
