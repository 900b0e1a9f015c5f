import type { VideoScanResult } from "./video-scan.ts";

/** The containers the in-process probe reads; also the ffmpeg demuxer each one is pinned to. */
export type ProbeContainer = "mpegts" | "mp4" | "matroska";

/** What one container parser learned; chunk-probe.ts turns it into MediaInfo. */
export interface ContainerProbe {
  container: ProbeContainer;
  video?: { codec: string; width?: number; height?: number; rotation?: number; scan: VideoScanResult };
  audio?: { codec: string; sampleRate: number; channels: number };
  /** Packet extent over every stream, seconds on the file's own timeline. */
  startSec: number | null;
  endSec: number | null;
  packets: number;
}
