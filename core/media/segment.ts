import { rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { concatList, planSegment, posterArgs, recordingArgs, segmentArgs, TS_LEAD_SEC } from "./ffmpeg-args.ts";
import { runFfmpeg, type ResourceLimits } from "./ffmpeg.ts";
import { checkLimits, DEFAULT_LIMITS, type MediaLimits } from "./limits.ts";
import { MediaError } from "./media-error.ts";
import type { MediaInfo } from "./media-info.ts";
import { probeChunk, type ProbeContainer } from "./probe/chunk-probe.ts";
import { tsPacketSpan } from "./ts-span.ts";

/** MPEG-TS timestamps are 33 bits of 90 kHz: they wrap after ~26.5 h of stream. */
const PTS_WRAP_SEC = 2 ** 33 / 90_000;

export interface MakeSegmentOptions {
  ffmpeg: string;
  /** The chunk, a local file. */
  input: string;
  /** The chunk's bytes when the caller holds them already (it just wrote `input` from them): probed instead of reading the file again. */
  inputBytes?: Uint8Array;
  /** The container the uploader declared; the bytes must agree, and ffmpeg is pinned to it. */
  container: ProbeContainer;
  /** Where the .ts segment is written; removed again if the step fails. */
  output: string;
  /** Start of this segment on the stream timeline: previous segment's offsetSec + durationSec (0 for the first). */
  offsetSec: number;
  /** Budget for the ffmpeg run; it is killed when it runs out. */
  timeoutMs: number;
  signal?: AbortSignal;
  limits?: MediaLimits;
  /** Memory and CPU caps of the ffmpeg process. */
  resources?: ResourceLimits;
  /** When set, the same ffmpeg run also writes the chunk's first frame here as a JPEG (best effort). */
  poster?: string;
}

export interface MadeSegment {
  /** Length on the timeline; the next segment's offsetSec is offsetSec + durationSec. Use it for #EXTINF. */
  durationSec: number;
  /** True when nothing was re-encoded (H.264 + AAC, or H.264 alone). */
  remuxed: boolean;
  /** The input as probed in process (durationSec is its packet span). */
  info: MediaInfo;
  /** Wall and CPU time of the ffmpeg run; probing in process costs the job's own CPU (probeMs). */
  ms: number;
  cpuMs?: number;
  probeMs: number;
  /** True when the poster JPEG was written. */
  poster: boolean;
  /** The segment's bytes as written to `output` (read once, for measuring), so the caller can store them without reading the file again. */
  bytes: Uint8Array;
}

/**
 * One chunk → one HLS segment with one ffmpeg process: probe in process (container, codecs,
 * every frame's size, packet span), refuse what is out of limits, remux or transcode into
 * MPEG-TS at `offsetSec`, then measure the segment's real extent from its packets (in process
 * too). That measured end is what the next segment continues from, so the timeline has no
 * overlaps and no drift. Segments of one stream must therefore be made in seq order.
 */
export async function makeSegment(opts: MakeSegmentOptions): Promise<MadeSegment> {
  const { signal } = opts;
  const t0 = performance.now();
  // Only regular files are read: a FIFO or device would block or never end.
  if (
    !(await stat(opts.input).then(
      (s) => s.isFile(),
      () => false,
    ))
  )
    throw new MediaError("internal", "the chunk to segment is not a regular file");
  const bytes = opts.inputBytes ?? (await Bun.file(opts.input).bytes());
  const info: MediaInfo = probeChunk(bytes, opts.container);
  const probeMs = performance.now() - t0;
  const limits = opts.limits ?? DEFAULT_LIMITS;
  checkLimits(info, limits);

  const plan = planSegment(info);
  const args = (poster?: string) =>
    segmentArgs({
      input: opts.input,
      container: opts.container,
      output: opts.output,
      info,
      offsetSec: opts.offsetSec,
      maxDurationSec: limits.maxDurationSec,
      poster,
    });
  const ffmpeg = (a: string[]) => runFfmpeg(opts.ffmpeg, a, { timeoutMs: opts.timeoutMs, signal, limits: opts.resources });
  try {
    // The poster is a nicety: should its output be what ffmpeg refuses, the segment is made without it.
    const run =
      opts.poster === undefined
        ? await ffmpeg(args())
        : await ffmpeg(args(opts.poster)).catch(async (e) => {
            if (!(e instanceof MediaError && e.code === "unprocessable")) throw e;
            await rm(opts.poster!, { force: true });
            return ffmpeg(args());
          });
    const fps = info.video?.fps;
    const segment = await Bun.file(opts.output).bytes();
    const span = tsPacketSpan(segment, fps ? 1 / fps : undefined);
    if (!span) throw new MediaError("unprocessable", "ffmpeg produced no audio or video from this chunk");
    const rel = (x: number) => (((x - TS_LEAD_SEC - opts.offsetSec) % PTS_WRAP_SEC) + PTS_WRAP_SEC) % PTS_WRAP_SEC;
    const durationSec = Math.round(rel(span.endSec) * 1e6) / 1e6;
    if (!(durationSec > 0) || durationSec > limits.maxDurationSec + 1) {
      throw new MediaError("internal", `segment timestamps are off its offset (end ${span.endSec.toFixed(6)} s for offset ${opts.offsetSec} s)`);
    }
    const poster = opts.poster !== undefined && Bun.file(opts.poster).size > 0;
    return { durationSec, remuxed: plan.videoCopy && (plan.audioCopy || !plan.hasAudio), info, ms: run.ms, cpuMs: run.cpuMs, probeMs, poster, bytes: segment };
  } catch (e) {
    await rm(opts.output, { force: true });
    throw e;
  }
}

export interface MakePosterOptions {
  ffmpeg: string;
  /** A segment (or any video file). */
  input: string;
  /** The .jpg to write. */
  output: string;
  /** Width of the JPEG; default 480 px, never upscaled. */
  width?: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** The first frame of a segment as a JPEG, for the operator's grid. */
export async function makePoster(opts: MakePosterOptions): Promise<{ ms: number; cpuMs?: number }> {
  try {
    const run = await runFfmpeg(opts.ffmpeg, posterArgs({ input: opts.input, output: opts.output, width: opts.width }), opts);
    if ((await Bun.file(opts.output).exists()) === false || Bun.file(opts.output).size === 0) {
      throw new MediaError("unprocessable", "ffmpeg wrote no poster: the segment has no decodable frame");
    }
    return { ms: run.ms, cpuMs: run.cpuMs };
  } catch (e) {
    await rm(opts.output, { force: true });
    throw e;
  }
}

export interface AssembleRecordingOptions {
  ffmpeg: string;
  /** Local .ts segments in playback (seq) order. */
  segmentFiles: string[];
  /**
   * The segments' durationSec from makeSegment, one per file. Optional: without them ffmpeg
   * estimates each file's length from its timestamps, which is close but not exact.
   */
  segmentDurationsSec?: number[];
  /** The .mp4 to write. */
  output: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * All segments → one faststart MP4, without re-encoding. The concat demuxer re-times each file
 * to follow the previous one, so gaps left on the live timeline (chunks that never came) close up
 * and a late segment slots in by its seq. Streams are those of the first segment.
 */
export async function assembleRecording(opts: AssembleRecordingOptions): Promise<{ ms: number; cpuMs?: number }> {
  if (opts.segmentFiles.length === 0) throw new MediaError("unprocessable", "a recording needs at least one segment");
  const listFile = `${opts.output}.ffconcat`;
  try {
    let list: string;
    try {
      list = concatList(
        opts.segmentFiles.map((f) => path.resolve(f)),
        opts.segmentDurationsSec,
      );
    } catch (e) {
      throw new MediaError("internal", (e as Error).message, { cause: e });
    }
    await writeFile(listFile, list);
    const run = await runFfmpeg(opts.ffmpeg, recordingArgs({ concatListFile: listFile, output: opts.output }), opts);
    return { ms: run.ms, cpuMs: run.cpuMs };
  } catch (e) {
    await rm(opts.output, { force: true });
    throw e;
  } finally {
    await rm(listFile, { force: true });
  }
}
