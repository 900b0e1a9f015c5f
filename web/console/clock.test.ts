import { describe, expect, test } from "bun:test";
import { positionOfDate, sampleAt } from "./clock.ts";

const T0 = Date.parse("2026-11-28T05:00:00.000Z");
const iso = (ms: number) => new Date(ms).toISOString();

// Three 2 s segments, then a 10 s hole in capture (a discontinuity), then two more.
const PLAYLIST = [
  "#EXTM3U",
  "#EXT-X-VERSION:6",
  "#EXT-X-TARGETDURATION:2",
  "#EXT-X-PLAYLIST-TYPE:EVENT",
  `#EXT-X-PROGRAM-DATE-TIME:${iso(T0)}`,
  "#EXTINF:2.000,",
  "segments/0.ts",
  "#EXTINF:2.000,",
  "segments/1.ts",
  `#EXT-X-PROGRAM-DATE-TIME:${iso(T0 + 4_000)}`,
  "#EXTINF:2.000,",
  "segments/2.ts",
  "#EXT-X-DISCONTINUITY",
  `#EXT-X-PROGRAM-DATE-TIME:${iso(T0 + 16_000)}`,
  "#EXTINF:1.500,",
  "segments/3.ts",
  // CMAF-style parts of the segment being written: not whole segments, no position of their own.
  '#EXT-X-PART:DURATION=0.5,URI="segments/4-0.m4s",INDEPENDENT=YES',
  "#EXTINF:2.000,",
  "segments/4.ts",
].join("\n");

describe("positionOfDate", () => {
  test("inside a segment: its start plus the time into it", () => {
    expect(positionOfDate(PLAYLIST, T0)).toBe(0);
    expect(positionOfDate(PLAYLIST, T0 + 3_250)).toBeCloseTo(3.25);
    expect(positionOfDate(PLAYLIST, T0 + 5_999)).toBeCloseTo(5.999);
  });
  test("after a capture gap the media position follows the segments, not the clock", () => {
    expect(positionOfDate(PLAYLIST, T0 + 16_000)).toBeCloseTo(6);
    // Segment 3 is 1.5 s: segment 4 starts at 7.5 s of media and 17.5 s of clock.
    expect(positionOfDate(PLAYLIST, T0 + 18_000)).toBeCloseTo(8);
  });
  test("in the gap: the next segment's start; before all: the first; after all or no clock: null", () => {
    expect(positionOfDate(PLAYLIST, T0 + 10_000)).toBeCloseTo(6);
    expect(positionOfDate(PLAYLIST, T0 - 60_000)).toBe(0);
    expect(positionOfDate(PLAYLIST, T0 + 60_000)).toBeNull();
    expect(positionOfDate(PLAYLIST.replace(/#EXT-X-PROGRAM-DATE-TIME:.*\n/g, ""), T0)).toBeNull();
    expect(positionOfDate("", T0)).toBeNull();
  });
  test("CRLF line ends read the same", () => {
    expect(positionOfDate(PLAYLIST.replace(/\n/g, "\r\n"), T0 + 3_250)).toBeCloseTo(3.25);
  });
});

describe("sampleAt", () => {
  const track = [10, 20, 30, 40].map((t) => ({ t }));
  test("the last sample at or before t; the first before them all; null without samples", () => {
    expect(sampleAt(track, 25)!.t).toBe(20);
    expect(sampleAt(track, 30)!.t).toBe(30);
    expect(sampleAt(track, 1000)!.t).toBe(40);
    expect(sampleAt(track, 0)!.t).toBe(10);
    expect(sampleAt([], 5)).toBeNull();
  });
});
