/**
 * The shapes shared by CMAF ingest (PUT init / PUT chunk with video/iso.segment) and the LL-HLS
 * playlist. Stored in stream_inits.tracks and chunks.media (migration 0011).
 */

/** One track of the init segment's moov (defined by the fMP4 reader that finds it). */
export type { CmafTrack } from "../media/fmp4.ts";

/** Where one chunk (one LL-HLS part: one or more moof+mdat) sits on each track's timeline. */
export interface CmafChunkMedia {
  /** key: decode time of the chunk's last key frame (video tracks that have one), for the 2-s key-frame rule. */
  tracks: { id: number; start: number; end: number; key?: number }[];
}

/** The part as the playlist needs it (chunks row with state 'listed'). */
export interface CmafPart {
  seq: number;
  /** Seconds (from the video track's decode span, else the longest track's). */
  duration: number;
  /** Starts with a key frame in every video track. */
  independent: boolean;
  /** Capture time of the first frame: X-Chunk-Start, else derived from the previous part. */
  captureStart: Date | null;
  late: boolean;
  receivedAt: Date;
}

/** NOTIFY channel: payload is the stream id, sent in the transaction that commits a part. */
export const PARTS_CHANNEL = "rter_parts";

/** Content types of the two CMAF uploads. */
export const CMAF_INIT_TYPE = "video/mp4";
export const CMAF_SEGMENT_TYPE = "video/iso.segment";
