import { MediaError } from "../media-error.ts";
import { TruncatedError } from "./bits.ts";
import { annexBNals, lengthPrefixedNals } from "./nal.ts";
import { H264_NAL_IDR, H264_NAL_SPS, HEVC_NAL_SPS, h264Type, hevcType, parseH264Sps, parseHevcSps, type SpsInfo } from "./h264.ts";
import { vp8Frame, vp9Frame, vp9Frames, type FrameHeader } from "./vpx.ts";

/** Every picture size a chunk's video declares, and where its first key frame is. */
export interface VideoScanResult {
  /** Distinct sizes, in the order first seen: the first is the stream's size. */
  sizes: { width: number; height: number }[];
  pixFmt?: string;
  /** Presentation times (seconds) of the frames, in decode order. */
  pts: number[];
  firstKeySec: number | null;
}

/**
 * Reads the header of every video frame of one track: each H.264/HEVC SPS (out of band and in
 * band), each VP8 key frame, each VP9 frame that carries a size. A limit checked against these
 * cannot be dodged by a small first frame followed by a huge one. A header that cannot be read
 * is a refusal, not a skip: what we cannot check, ffmpeg must not decode.
 */
export class VideoScan {
  private readonly seen = new Map<string, { width: number; height: number }>();
  private pixFmt: string | undefined;
  private readonly pts: number[] = [];
  private firstKeySec: number | null = null;

  constructor(
    readonly codec: string,
    /** NAL framing of samples: "annexb" (TS) or the length size of avcC/hvcC (MP4, Matroska). */
    private readonly framing: "annexb" | number = "annexb",
  ) {}

  /** A parameter set stored out of band (avcC/hvcC). */
  sps(nal: Uint8Array): void {
    this.guard(() => this.addSps(nal));
  }

  /** One access unit / frame at `ptsSec`. */
  frame(data: Uint8Array, ptsSec: number): void {
    const n = this.pts.length;
    this.pts.push(ptsSec);
    const key = this.guard(() => this.header(data), n);
    if (key && this.firstKeySec === null) this.firstKeySec = ptsSec;
  }

  result(): VideoScanResult {
    return { sizes: [...this.seen.values()], pixFmt: this.pixFmt, pts: this.pts, firstKeySec: this.firstKeySec };
  }

  private header(data: Uint8Array): boolean {
    switch (this.codec) {
      case "h264":
      case "hevc": {
        const nals = this.framing === "annexb" ? [...annexBNals(data)] : lengthPrefixedNals(data, this.framing);
        if (!nals) throw new RangeError("NAL lengths run past the frame");
        let key = false;
        for (const nal of nals) {
          if (nal.length === 0) continue;
          const t = this.codec === "h264" ? h264Type(nal) : hevcType(nal);
          if (this.codec === "h264" ? t === H264_NAL_SPS : t === HEVC_NAL_SPS) this.addSps(nal);
          if (this.codec === "h264" ? t === H264_NAL_IDR : t >= 16 && t <= 23) key = true;
        }
        return key;
      }
      case "vp8":
        return this.addHeader(vp8Frame(data));
      case "vp9":
        return vp9Frames(data)
          .map((f) => this.addHeader(vp9Frame(f)))
          .some(Boolean);
      default:
        return false;
    }
  }

  private addHeader(h: FrameHeader): boolean {
    if (h.width !== undefined && h.height !== undefined) this.addSize(h.width, h.height);
    return h.key;
  }

  private addSps(nal: Uint8Array): void {
    const s: SpsInfo = this.codec === "hevc" ? parseHevcSps(nal) : parseH264Sps(nal);
    this.pixFmt ??= s.pixFmt;
    // A later SPS in another layout (4:2:2, 10-bit) must not be copied as if it were the first.
    if (s.pixFmt !== this.pixFmt) this.pixFmt = "mixed";
    this.addSize(s.width, s.height);
  }

  private addSize(width: number, height: number): void {
    const k = `${width}x${height}`;
    if (!this.seen.has(k)) this.seen.set(k, { width, height });
  }

  private guard<T>(fn: () => T, frame?: number): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof TruncatedError || e instanceof RangeError) {
        const where = frame === undefined ? "its codec configuration" : `frame ${frame + 1}`;
        throw new MediaError("unprocessable", `the ${this.codec} video has an unreadable header in ${where}`);
      }
      throw e;
    }
  }
}

/** Median of the positive steps between sorted times, or null with fewer than two. */
export function medianStep(times: number[]): number | null {
  const s = [...times].sort((a, b) => a - b);
  const steps = s
    .slice(1)
    .map((x, i) => x - s[i]!)
    .filter((d) => d > 0)
    .sort((a, b) => a - b);
  return steps.length ? steps[Math.floor(steps.length / 2)]! : null;
}
