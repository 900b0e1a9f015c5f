/** EBML magic, the first bytes of every WebM and Matroska file. */
export function startsWithEbml(head: Uint8Array): boolean {
  return head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3;
}

/** What we need to know about a media file, in our words rather than ffprobe's. */
export interface MediaInfo {
  /** Normalised container: "mp4" (MP4/QuickTime), "matroska" (WebM too), "mpegts", else ffprobe's first name. */
  container: string;
  /** Whole-file duration in seconds, or null when the file does not declare one (live-written WebM). */
  durationSec: number | null;
  video?: {
    codec: string;
    width: number;
    height: number;
    fps?: number;
    pixFmt?: string;
    /** Display rotation in degrees (phones record sideways and tag it); MPEG-TS cannot carry it. */
    rotation?: number;
    /**
     * Every picture size the bitstream declares (each SPS, each VP8/VP9 frame header, the
     * container's claim), when read in process. The limits apply to each, not just the first.
     */
    sizes?: { width: number; height: number }[];
  };
  audio?: { codec: string; sampleRate: number; channels: number };
}

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  pix_fmt?: string;
  sample_rate?: string;
  channels?: number;
  disposition?: { attached_pic?: number };
  tags?: Record<string, string>;
  side_data_list?: { side_data_type?: string; rotation?: number }[];
}

interface ProbeJson {
  format?: { format_name?: string; duration?: string };
  streams?: ProbeStream[];
}

function rate(s: string | undefined): number | undefined {
  const m = /^(\d+)\/(\d+)$/.exec(s ?? "");
  if (!m) return undefined;
  const v = Number(m[1]) / Number(m[2]);
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

function positive(s: string | number | undefined): number | null {
  const v = Number(s);
  return s !== undefined && s !== "" && Number.isFinite(v) && v > 0 ? v : null;
}

export function normaliseContainer(formatName: string): string {
  const names = formatName.split(",");
  if (names.includes("mp4") || names.includes("mov")) return "mp4";
  if (names.includes("matroska") || names.includes("webm")) return "matroska";
  return names[0] ?? "";
}

function rotationOf(s: ProbeStream): number | undefined {
  const dm = s.side_data_list?.find((d) => d.side_data_type === "Display Matrix" && typeof d.rotation === "number");
  const deg = dm?.rotation ?? positive(s.tags?.rotate) ?? 0;
  const norm = ((Math.round(deg) % 360) + 360) % 360;
  return norm === 0 ? undefined : norm;
}

/** Turns `ffprobe -print_format json -show_format -show_streams` output into MediaInfo. Pure. */
export function parseProbeJson(raw: unknown): MediaInfo {
  const j = (raw ?? {}) as ProbeJson;
  const streams = j.streams ?? [];
  // Cover art in MP4/Matroska shows up as a one-frame video stream; it is not the video.
  const v = streams.find((s) => s.codec_type === "video" && !s.disposition?.attached_pic);
  const a = streams.find((s) => s.codec_type === "audio");
  const info: MediaInfo = {
    container: normaliseContainer(j.format?.format_name ?? ""),
    durationSec: positive(j.format?.duration),
  };
  if (v) {
    info.video = { codec: v.codec_name ?? "unknown", width: v.width ?? 0, height: v.height ?? 0 };
    const fps = rate(v.avg_frame_rate) ?? rate(v.r_frame_rate);
    if (fps !== undefined) info.video.fps = fps;
    if (v.pix_fmt) info.video.pixFmt = v.pix_fmt;
    const rot = rotationOf(v);
    if (rot !== undefined) info.video.rotation = rot;
  }
  if (a) info.audio = { codec: a.codec_name ?? "unknown", sampleRate: positive(a.sample_rate) ?? 0, channels: a.channels ?? 0 };
  return info;
}
