/** One listed segment, as the playlist needs it. */
export interface PlaylistSegment {
  seq: number;
  duration: number;
  programDateTime: Date;
  discontinuity: boolean;
}

export interface PlaylistInput {
  segments: PlaylistSegment[];
  /** Finished and every chunk segmented or failed: the list will not change again. */
  complete: boolean;
  /** TARGETDURATION while no segment exists yet (seconds). */
  defaultTargetSec: number;
}

/**
 * An HLS media playlist, built from the database on every request so any API node can answer.
 * EVENT while live (append-only, MEDIA-SEQUENCE stays 0: the whole stream can be replayed from
 * the start), ENDLIST once complete. Segment URIs are relative to the playlist.
 */
export function buildPlaylist({ segments, complete, defaultTargetSec }: PlaylistInput): string {
  const target = Math.max(1, ...segments.map((s) => Math.round(s.duration)), segments.length ? 1 : defaultTargetSec);
  const lines = [
    "#EXTM3U",
    "#EXT-X-VERSION:3",
    `#EXT-X-TARGETDURATION:${target}`,
    "#EXT-X-MEDIA-SEQUENCE:0",
    `#EXT-X-PLAYLIST-TYPE:${complete ? "VOD" : "EVENT"}`,
    "#EXT-X-INDEPENDENT-SEGMENTS",
  ];
  let first = true;
  for (const s of segments) {
    if (s.discontinuity && !first) lines.push("#EXT-X-DISCONTINUITY");
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${s.programDateTime.toISOString()}`, `#EXTINF:${s.duration.toFixed(3)},`, `segments/${s.seq}.ts`);
    first = false;
  }
  if (complete) lines.push("#EXT-X-ENDLIST");
  return lines.join("\n") + "\n";
}
