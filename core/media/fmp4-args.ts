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
 * The parts → one faststart MP4 for download, nothing re-encoded, timestamps as the phone wrote
 * them (its decode times run on across parts, so the recording is as long as the parts together).
 */
export function fmp4RecordingArgs({ input, output }: { input: string; output: string }): string[] {
  return [...COMMON, ...INPUT(input), "-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", output];
}

/** The first frame of init + one independent part (a key frame) as a JPEG. */
export function fmp4PosterArgs({ input, output, width = FMP4_POSTER_WIDTH }: { input: string; output: string; width?: number }): string[] {
  const w = Math.max(16, Math.round(width));
  return [
    ...COMMON,
    ...INPUT(input),
    "-map",
    "0:v:0",
    "-an",
    "-frames:v",
    "1",
    "-vf",
    `scale='min(${w},iw)':-2`,
    "-q:v",
    "4",
    "-f",
    "image2",
    "-update",
    "1",
    output,
  ];
}
