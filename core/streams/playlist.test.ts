import { expect, test } from "bun:test";
import { buildPlaylist } from "./playlist.ts";

const t0 = new Date("2026-11-23T10:00:00.000Z");
const seg = (seq: number, duration: number, discontinuity = false) => ({ seq, duration, discontinuity, programDateTime: new Date(t0.getTime() + seq * 2000) });

test("live playlist: EVENT, seq order, PDT per segment, no ENDLIST", () => {
  const p = buildPlaylist({ segments: [seg(0, 2.002), seg(1, 1.96)], complete: false, defaultTargetSec: 2 });
  expect(p).toBe(
    [
      "#EXTM3U",
      "#EXT-X-VERSION:3",
      "#EXT-X-TARGETDURATION:2",
      "#EXT-X-MEDIA-SEQUENCE:0",
      "#EXT-X-PLAYLIST-TYPE:EVENT",
      "#EXT-X-INDEPENDENT-SEGMENTS",
      "#EXT-X-PROGRAM-DATE-TIME:2026-11-23T10:00:00.000Z",
      "#EXTINF:2.002,",
      "segments/0.ts",
      "#EXT-X-PROGRAM-DATE-TIME:2026-11-23T10:00:02.000Z",
      "#EXTINF:1.960,",
      "segments/1.ts",
      "",
    ].join("\n"),
  );
});

test("TARGETDURATION is at least every segment's rounded duration; gaps are discontinuities; complete ends the list", () => {
  const p = buildPlaylist({ segments: [seg(0, 2), seg(2, 2.6, true)], complete: true, defaultTargetSec: 2 });
  expect(p).toContain("#EXT-X-TARGETDURATION:3");
  expect(p).toContain("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-11-23T10:00:04.000Z\n#EXTINF:2.600,\nsegments/2.ts");
  expect(p).toContain("#EXT-X-PLAYLIST-TYPE:VOD");
  expect(p.trimEnd().endsWith("#EXT-X-ENDLIST")).toBe(true);
});

test("an empty live playlist is valid and uses the default target", () => {
  const p = buildPlaylist({ segments: [], complete: false, defaultTargetSec: 2 });
  expect(p).toContain("#EXT-X-TARGETDURATION:2");
  expect(p).not.toContain("#EXTINF");
});
