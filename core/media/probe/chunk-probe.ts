import { MediaError } from "../media-error.ts";
import type { MediaInfo } from "../media-info.ts";
import { TruncatedError } from "./bits.ts";
import { probeMp4 } from "./mp4-probe.ts";
import { probeTs } from "./ts-probe.ts";
import type { ContainerProbe, ProbeContainer } from "./types.ts";
import { probeWebm } from "./webm-probe.ts";

export type { ProbeContainer } from "./types.ts";

/** What the in-process probe adds to MediaInfo: the packet extent and where the first key frame is. */
export interface ChunkInfo extends MediaInfo {
  container: ProbeContainer;
  span: { startSec: number; endSec: number; packets: number } | null;
  /** Seconds from the first packet to the first video key frame; null without one. */
  firstKeyFrameSec: number | null;
}

const MP4_BOXES = new Set(["ftyp", "styp", "moov", "moof", "mdat", "free", "skip", "wide"]);

/** The container the bytes are in, by their first bytes alone; null when none of ours. */
export function sniffContainer(b: Uint8Array): ProbeContainer | null {
  if (b.length >= 4 && b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return "matroska";
  if (b.length >= 188 && b[0] === 0x47 && (b.length === 188 || b[188] === 0x47)) return "mpegts";
  if (b.length >= 8 && MP4_BOXES.has(String.fromCharCode(b[4]!, b[5]!, b[6]!, b[7]!))) return "mp4";
  return null;
}

/**
 * Reads a chunk in process: container, tracks and codecs, packet span, first key frame and the
 * picture size of every SPS / key frame. `declared` is the container the uploader named; the
 * bytes must agree, so ffmpeg is later pinned to a demuxer both sides vouch for. Replaces a
 * ffprobe process per chunk (~70 ms of CPU just to start).
 */
export function probeChunk(bytes: Uint8Array, declared: ProbeContainer): ChunkInfo {
  const sniffed = sniffContainer(bytes);
  if (sniffed !== declared) {
    throw new MediaError("unprocessable", `the chunk was declared ${declared} but its bytes are ${sniffed ?? "no container we read"}`);
  }
  let p: ContainerProbe;
  try {
    p = declared === "mpegts" ? probeTs(bytes) : declared === "mp4" ? probeMp4(bytes) : probeWebm(bytes);
  } catch (e) {
    // A length field pointing past the end surfaces as a RangeError from DataView/BitReader.
    if (e instanceof RangeError || e instanceof TruncatedError) throw new MediaError("unprocessable", `${declared}: truncated or malformed (${e.message})`);
    throw e;
  }
  return toInfo(p);
}

function toInfo(p: ContainerProbe): ChunkInfo {
  const span = p.startSec !== null && p.endSec !== null ? { startSec: p.startSec, endSec: p.endSec, packets: p.packets } : null;
  const info: ChunkInfo = {
    container: p.container,
    durationSec: span ? Math.max(0, span.endSec - span.startSec) || null : null,
    span,
    firstKeyFrameSec: null,
  };
  if (p.video) {
    const s = p.video.scan;
    const sizes = [...s.sizes];
    // The container's own claim is a size ffmpeg may act on too: check it like the rest.
    if (p.video.width && p.video.height && !sizes.some((x) => x.width === p.video!.width && x.height === p.video!.height)) {
      sizes.push({ width: p.video.width, height: p.video.height });
    }
    const first = s.sizes[0] ?? sizes[0] ?? { width: 0, height: 0 };
    info.video = { codec: p.video.codec, width: first.width, height: first.height, sizes };
    const steps = [...s.pts].sort((a, b) => a - b);
    if (steps.length > 1) {
      const fps = (steps.length - 1) / (steps.at(-1)! - steps[0]!);
      if (Number.isFinite(fps) && fps > 0) info.video.fps = fps;
    }
    if (s.pixFmt) info.video.pixFmt = s.pixFmt;
    if (p.video.rotation) info.video.rotation = p.video.rotation;
    if (s.firstKeySec !== null && span) info.firstKeyFrameSec = Math.max(0, s.firstKeySec - span.startSec);
  }
  if (p.audio) info.audio = p.audio;
  return info;
}
