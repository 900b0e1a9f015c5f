import type { MediaInfo } from "./media-info.ts";
import type { ProbeContainer } from "./probe/types.ts";

/**
 * Pure ffmpeg argument builders: no I/O, unit-tested without ffmpeg. The runner is ffmpeg.ts.
 *
 * Segments are MPEG-TS rather than fMP4: each segment then carries its own codec parameters and
 * needs no shared init segment, so a stream whose resolution changes between chunks (a phone
 * rotates, the browser adapts) still plays segment after segment.
 *
 * Timeline: ffmpeg shifts a chunk so its earliest packet (over all streams) is at 0, then
 * `-output_ts_offset` moves it to `offsetSec`, and the TS muxer adds a constant lead of
 * 2 × muxdelay (pinned here, so TS_LEAD_SEC stays true). A segment's duration is measured on the
 * output as (end of its last packet) − lead − offsetSec, and the next segment starts exactly
 * there: packets never overlap, and gaps are at most one frame of the shorter stream.
 */

/** `-muxdelay` in seconds; the mpegts muxer delays every timestamp by twice this. */
export const TS_MUX_DELAY_SEC = 0.7;
/** Where offset 0 lands in a segment's PTS (seconds). */
export const TS_LEAD_SEC = 2 * TS_MUX_DELAY_SEC;
/** ffmpeg's AAC encoder emits this many samples of encoder delay before the real audio. */
export const AAC_PRIMING_SAMPLES = 1024;
/** Longest side of the poster JPEG. */
export const POSTER_WIDTH = 480;

/** Pixel formats browsers decode in H.264; anything else (10-bit, 4:2:2) is re-encoded. */
const COPYABLE_PIX_FMTS = new Set(["yuv420p", "yuvj420p"]);

export interface SegmentPlan {
  /** H.264 in 8-bit 4:2:0 without a rotation tag goes through untouched. */
  videoCopy: boolean;
  /** AAC goes through untouched; Opus and the rest become AAC. */
  audioCopy: boolean;
  hasAudio: boolean;
}

export function planSegment(info: MediaInfo): SegmentPlan {
  const v = info.video;
  const a = info.audio;
  const videoCopy =
    v?.codec === "h264" &&
    (v.pixFmt === undefined || COPYABLE_PIX_FMTS.has(v.pixFmt)) &&
    // MPEG-TS has nowhere to put a display matrix: copying would play a portrait phone sideways.
    !v.rotation;
  return { videoCopy, audioCopy: a?.codec === "aac" && a.channels <= 2, hasAudio: a !== undefined };
}

const COMMON = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"];

/**
 * The ffmpeg demuxer for each container we take. Pinned with `-f`, so ffmpeg never chooses one
 * from the content: a playlist, concat script or SDP dressed as a chunk is then just a broken
 * MP4/WebM/TS, never a list of other files to open.
 */
export const DEMUXER: Record<ProbeContainer, string> = { mpegts: "mpegts", mp4: "mov", matroska: "matroska" };
/** Demuxers an input may be pinned to: ours, plus concat for the lists rter writes itself. */
const PINNABLE = new Set([...Object.values(DEMUXER), "concat"]);

/**
 * The one way an input reaches ffmpeg: its demuxer named, protocols limited to reading local
 * files, the path marked as a file (no `proto:` or `-` ever interpreted). Every builder below
 * uses it, and runTool (ffmpeg.ts) refuses argument lists that did not (assertPinnedInputs).
 */
export function inputArgs(file: string, container: ProbeContainer): string[] {
  return pinned(file, DEMUXER[container]);
}

/** A concat list that rter wrote itself, naming only its own segment files. Never uploaded bytes. */
export function ownConcatInputArgs(listFile: string): string[] {
  return ["-safe", "0", ...pinned(listFile, "concat")];
}

function pinned(file: string, demuxer: string): string[] {
  if (!file.startsWith("/") || /[\r\n\0]/.test(file)) throw new Error(`ffmpeg input must be an absolute local path, got ${JSON.stringify(file)}`);
  return ["-f", demuxer, "-protocol_whitelist", "file", "-i", `file:${file}`];
}

/**
 * Throws unless every `-i` of an ffmpeg argument list was built by inputArgs/ownConcatInputArgs:
 * preceded (since the previous input) by `-f <one of ours>` and `-protocol_whitelist file`, and a
 * `file:` path. Checked by the runner on every spawn, so a call site cannot forget.
 */
export function assertPinnedInputs(args: string[]): void {
  let from = 0;
  let inputs = 0;
  args.forEach((a, i) => {
    if (a !== "-i") return;
    inputs++;
    const opts = args.slice(from, i);
    const f = opts.lastIndexOf("-f");
    const w = opts.lastIndexOf("-protocol_whitelist");
    const demuxer = f >= 0 ? opts[f + 1]! : "(none)";
    if (!PINNABLE.has(demuxer)) throw new Error(`ffmpeg input ${inputs} is not pinned to one of our demuxers (got ${demuxer})`);
    if (w < 0 || opts[w + 1] !== "file") throw new Error(`ffmpeg input ${inputs} may use protocols other than file`);
    if (!args[i + 1]?.startsWith("file:/")) throw new Error(`ffmpeg input ${inputs} is not a local file path`);
    from = i + 2;
  });
}

/** Seconds as ffmpeg's duration syntax, to the microsecond it parses them to. */
export function sec(n: number): string {
  return (Math.round(n * 1e6) / 1e6).toFixed(6);
}

export interface SegmentArgsInput {
  input: string;
  /** The container both the uploader declared and the bytes showed. */
  container: ProbeContainer;
  output: string;
  info: MediaInfo;
  /** Where this segment starts on the stream's timeline: the previous segment's offset + duration. */
  offsetSec: number;
  /** Output is cut here even if the input lied about its length. */
  maxDurationSec?: number;
  /** Also write the first (key) frame as a JPEG here, in the same ffmpeg run. */
  poster?: string;
}

/** One chunk → one MPEG-TS segment with H.264 + AAC, copying whatever can be copied. */
export function segmentArgs({ input, container, output, info, offsetSec, maxDurationSec, poster }: SegmentArgsInput): string[] {
  const plan = planSegment(info);
  // A poster from a copied stream needs only its key frame decoded: the decoder skips the rest,
  // and the copy never goes through the decoder, so the segment is byte for byte the same.
  const skip = poster && plan.videoCopy ? ["-skip_frame", "nokey"] : [];
  const args = [...COMMON, ...skip, ...inputArgs(input, container), "-map", "0:v:0"];
  if (plan.hasAudio) args.push("-map", "0:a:0");
  if (maxDurationSec !== undefined) args.push("-t", sec(maxDurationSec));

  if (plan.videoCopy) {
    args.push("-c:v", "copy");
  } else {
    const v = info.video;
    // libx264 needs even dimensions in 4:2:0; autorotation (ffmpeg's default) runs before this.
    const odd = v !== undefined && (v.width % 2 !== 0 || v.height % 2 !== 0);
    if (odd) args.push("-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2");
    args.push(
      "-c:v",
      "libx264",
      "-preset",
      "veryfast",
      // No B-frames or lookahead: a 1-2 s chunk is latency, not a film. The first frame is an IDR.
      "-tune",
      "zerolatency",
      "-crf",
      "23",
      "-maxrate",
      "5M",
      "-bufsize",
      "10M",
      "-pix_fmt",
      "yuv420p",
      "-profile:v",
      "high",
      // MediaRecorder writes variable frame rate with ms timestamps; the default encoder time
      // base (1/guessed fps) would round them together and drop frames.
      "-enc_time_base:v",
      "-1",
    );
  }

  if (plan.hasAudio) {
    if (plan.audioCopy) {
      args.push("-c:a", "copy");
    } else {
      args.push("-c:a", "aac", "-b:a", "128k");
      // The AAC encoder starts its output 1024 samples early (priming); MPEG-TS has no edit list
      // to hide them, so they would overlap the previous segment. Dropping as many input samples
      // makes the first AAC packet start exactly at the offset, in sync with the video; the cost
      // is 21 ms of audio per chunk, which the priming frame replaces with near silence.
      args.push("-af", `atrim=start_sample=${AAC_PRIMING_SAMPLES}`);
      if (info.audio && info.audio.channels > 2) args.push("-ac", "2");
    }
  }

  args.push(
    // Copied AAC from MP4 starts with its priming packet before 0 (the edit list hid it there);
    // drop packets before the start instead of letting them overlap the previous segment. Audio
    // only: on copied video it lost every packet of Chromium's in-band-SPS H.264 whenever the
    // poster output decoded the same stream (-skip_frame nokey), leaving a segment without video.
    "-copypriorss:a",
    "0",
    // ffmpeg would otherwise shift only the first segment (the only one whose B-frame DTS goes
    // negative), putting it off the common timeline; the mux delay keeps DTS positive anyway.
    "-avoid_negative_ts",
    "disabled",
    "-muxdelay",
    String(TS_MUX_DELAY_SEC),
    "-output_ts_offset",
    sec(offsetSec),
    "-sn",
    "-dn",
    "-map_metadata",
    "-1",
    "-f",
    "mpegts",
    output,
  );
  if (poster) args.push("-map", "0:v:0", ...posterOutput(poster, POSTER_WIDTH));
  return args;
}

/** One JPEG of the first frame, at most `width` wide (never upscaled). */
function posterOutput(output: string, width: number): string[] {
  const w = Math.max(16, Math.round(width));
  return ["-an", "-frames:v", "1", "-vf", `scale='min(${w},iw)':-2`, "-q:v", "4", "-f", "image2", "-update", "1", output];
}

export interface PosterArgsInput {
  input: string;
  output: string;
  /** Target width in pixels; smaller videos are not upscaled. */
  width?: number;
}

/** The first frame of a segment (always a key frame) as one JPEG. */
export function posterArgs({ input, output, width = POSTER_WIDTH }: PosterArgsInput): string[] {
  // Posters are taken from our own segments, which are always MPEG-TS.
  return [...COMMON, ...inputArgs(input, "mpegts"), "-map", "0:v:0", ...posterOutput(output, width)];
}

export interface RecordingArgsInput {
  /** A concat-demuxer list as built by concatList(). */
  concatListFile: string;
  output: string;
}

/** All segments → one MP4, remuxed (no re-encode), moov first so it plays while downloading. */
export function recordingArgs({ concatListFile, output }: RecordingArgsInput): string[] {
  return [
    ...COMMON,
    ...ownConcatInputArgs(concatListFile),
    "-map",
    "0:v:0",
    "-map",
    "0:a:0?",
    "-c",
    "copy",
    // ADTS headers (how AAC travels in TS) must become an AudioSpecificConfig in MP4.
    "-bsf:a",
    "aac_adtstoasc",
    "-movflags",
    "+faststart",
    "-f",
    "mp4",
    output,
  ];
}

/** ffmpeg's quoting: inside '…' nothing is special except the quote, written as '\''. */
function quote(p: string): string {
  return `'${p.replaceAll("'", "'\\''")}'`;
}

/**
 * The concat-demuxer list for `files` (absolute paths). With `durationsSec` (the segments'
 * measured durations) the demuxer lays files end to end by those instead of estimating each
 * file's length from its timestamps.
 */
export function concatList(files: string[], durationsSec?: number[]): string {
  if (durationsSec && durationsSec.length !== files.length) throw new Error("concatList: one duration per file");
  const lines = ["ffconcat version 1.0"];
  files.forEach((f, i) => {
    // The list is line-based; there is no escape for a line break.
    if (/[\r\n\0]/.test(f)) throw new Error(`concatList: unusable file name ${JSON.stringify(f)}`);
    lines.push(`file ${quote(f)}`);
    const d = durationsSec?.[i];
    if (d !== undefined && Number.isFinite(d) && d > 0) lines.push(`duration ${sec(d)}`);
  });
  return lines.join("\n") + "\n";
}
