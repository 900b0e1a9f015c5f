import { describe, expect, test } from "bun:test";
import {
  assertPinnedInputs,
  concatList,
  inputArgs,
  ownConcatInputArgs,
  planSegment,
  posterArgs,
  recordingArgs,
  sec,
  segmentArgs,
  TS_LEAD_SEC,
} from "./ffmpeg-args.ts";
import type { MediaInfo } from "./media-info.ts";

const v = (codec: string, extra: Partial<NonNullable<MediaInfo["video"]>> = {}) => ({ codec, width: 320, height: 240, fps: 25, pixFmt: "yuv420p", ...extra });
const a = (codec: string, channels = 2) => ({ codec, sampleRate: 48000, channels });
const info = (video: MediaInfo["video"], audio?: MediaInfo["audio"], container = "mp4"): MediaInfo => ({ container, durationSec: 1, video, audio });

/** The value following `flag`, or undefined. */
const after = (args: string[], flag: string) => {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
};
const seg = (i: MediaInfo, offsetSec = 0) => segmentArgs({ input: "/in/chunk", container: "mp4", output: "/out/seg.ts", info: i, offsetSec });

describe("planSegment", () => {
  test.each([
    ["H.264 + AAC (MP4, TS)", info(v("h264"), a("aac")), { videoCopy: true, audioCopy: true, hasAudio: true }],
    ["H.264 + Opus (Chromium WebM)", info(v("h264"), a("opus"), "matroska"), { videoCopy: true, audioCopy: false, hasAudio: true }],
    ["VP8 + Opus", info(v("vp8"), a("opus"), "matroska"), { videoCopy: false, audioCopy: false, hasAudio: true }],
    ["VP9 + Opus", info(v("vp9"), a("opus"), "matroska"), { videoCopy: false, audioCopy: false, hasAudio: true }],
    ["HEVC + AAC (iPhone)", info(v("hevc"), a("aac")), { videoCopy: false, audioCopy: true, hasAudio: true }],
    ["H.264 video only", info(v("h264")), { videoCopy: true, audioCopy: false, hasAudio: false }],
    ["rotated H.264 (portrait phone)", info(v("h264", { rotation: 90 }), a("aac")), { videoCopy: false, audioCopy: true, hasAudio: true }],
    ["10-bit H.264", info(v("h264", { pixFmt: "yuv420p10le" }), a("aac")), { videoCopy: false, audioCopy: true, hasAudio: true }],
    ["5.1 AAC", info(v("h264"), a("aac", 6)), { videoCopy: true, audioCopy: false, hasAudio: true }],
  ])("%s", (_name, i, plan) => {
    expect(planSegment(i)).toEqual(plan);
  });
});

describe("segmentArgs", () => {
  test("H.264 + AAC is a pure remux into MPEG-TS at the offset", () => {
    const args = seg(info(v("h264"), a("aac")), 3.5);
    expect(args.slice(0, 5)).toEqual(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]);
    expect(after(args, "-i")).toBe("file:/in/chunk");
    expect(after(args, "-f")).toBe("mov");
    expect(after(args, "-protocol_whitelist")).toBe("file");
    expect(after(args, "-c:v")).toBe("copy");
    expect(after(args, "-c:a")).toBe("copy");
    expect(args).not.toContain("libx264");
    expect(args).not.toContain("-af");
    expect(after(args, "-output_ts_offset")).toBe("3.500000");
    // Audio only: on copied video it dropped Chromium's in-band-SPS H.264 when a poster decoded it.
    expect(after(args, "-copypriorss:a")).toBe("0");
    expect(args).not.toContain("-copypriorss");
    expect(after(args, "-avoid_negative_ts")).toBe("disabled");
    expect(Number(after(args, "-muxdelay")) * 2).toBe(TS_LEAD_SEC);
    expect(args.slice(-3)).toEqual(["-f", "mpegts", "/out/seg.ts"]);
    expect(args.filter((x) => x === "-map")).toHaveLength(2);
  });

  test("H.264 + Opus copies video and encodes AAC without its priming", () => {
    const args = seg(info(v("h264"), a("opus"), "matroska"));
    expect(after(args, "-c:v")).toBe("copy");
    expect(after(args, "-c:a")).toBe("aac");
    expect(after(args, "-af")).toBe("atrim=start_sample=1024");
    expect(args).not.toContain("-ac");
  });

  test("VP8 + Opus encodes both: libx264 veryfast, zerolatency, 4:2:0, source time base", () => {
    const args = seg(info(v("vp8"), a("opus"), "matroska"), 1.04);
    expect(after(args, "-c:v")).toBe("libx264");
    expect(after(args, "-preset")).toBe("veryfast");
    expect(after(args, "-tune")).toBe("zerolatency");
    expect(after(args, "-pix_fmt")).toBe("yuv420p");
    expect(after(args, "-enc_time_base:v")).toBe("-1");
    expect(after(args, "-c:a")).toBe("aac");
    expect(args).not.toContain("-vf");
    expect(after(args, "-output_ts_offset")).toBe("1.040000");
  });

  test("HEVC is re-encoded, its AAC copied", () => {
    const args = seg(info(v("hevc"), a("aac")));
    expect(after(args, "-c:v")).toBe("libx264");
    expect(after(args, "-c:a")).toBe("copy");
  });

  test("odd sizes are rounded to even for libx264; more than two channels are downmixed", () => {
    const args = seg(info(v("vp9", { width: 321, height: 241 }), a("opus", 6)));
    expect(after(args, "-vf")).toBe("scale=trunc(iw/2)*2:trunc(ih/2)*2");
    expect(after(args, "-ac")).toBe("2");
  });

  test("video only maps no audio and sets no audio codec", () => {
    const args = seg(info(v("h264")));
    expect(args.filter((x) => x === "-map")).toHaveLength(1);
    expect(args).not.toContain("-c:a");
    expect(args).not.toContain("0:a:0");
  });

  test("a duration cap becomes -t", () => {
    const args = segmentArgs({ input: "/i", container: "mpegts", output: "o", info: info(v("h264")), offsetSec: 0, maxDurationSec: 30 });
    expect(after(args, "-t")).toBe("30.000000");
  });

  test("offsets are written to the microsecond ffmpeg parses", () => {
    expect(sec(0)).toBe("0.000000");
    expect(sec(2.0426666666)).toBe("2.042667");
    expect(sec(1e-7)).toBe("0.000000");
  });
});

describe("posterArgs", () => {
  test("one frame, scaled down to 480 px wide but never up", () => {
    const args = posterArgs({ input: "/s.ts", output: "/p.jpg" });
    expect(after(args, "-frames:v")).toBe("1");
    expect(after(args, "-vf")).toBe("scale='min(480,iw)':-2");
    expect(args.slice(-1)).toEqual(["/p.jpg"]);
    expect(after(posterArgs({ input: "/i", output: "o", width: 320 }), "-vf")).toBe("scale='min(320,iw)':-2");
  });
});

describe("recordingArgs / concatList", () => {
  test("concat demuxer → MP4, copy, ADTS→ASC, faststart", () => {
    const args = recordingArgs({ concatListFile: "/tmp/l.ffconcat", output: "/tmp/r.mp4" });
    expect(after(args, "-f")).toBe("concat");
    expect(after(args, "-safe")).toBe("0");
    expect(after(args, "-i")).toBe("file:/tmp/l.ffconcat");
    expect(after(args, "-protocol_whitelist")).toBe("file");
    expect(after(args, "-c")).toBe("copy");
    expect(after(args, "-bsf:a")).toBe("aac_adtstoasc");
    expect(after(args, "-movflags")).toBe("+faststart");
    expect(args.slice(-3)).toEqual(["-f", "mp4", "/tmp/r.mp4"]);
  });

  test("paths are quoted; a single quote survives; durations are optional", () => {
    expect(concatList(["/a/0.ts", "/b/it's 1.ts"])).toBe("ffconcat version 1.0\nfile '/a/0.ts'\nfile '/b/it'\\''s 1.ts'\n");
    expect(concatList(["/a/0.ts", "/a/1.ts"], [1.0026666, 2])).toBe(
      "ffconcat version 1.0\nfile '/a/0.ts'\nduration 1.002667\nfile '/a/1.ts'\nduration 2.000000\n",
    );
  });

  test("names that cannot be written into the list are refused", () => {
    expect(() => concatList(["/a/x\nfile '/etc/passwd'"])).toThrow(/unusable/);
    expect(() => concatList(["/a"], [1, 2])).toThrow(/one duration per file/);
  });
});

describe("pinned inputs", () => {
  test("each container is pinned to its demuxer, local files only", () => {
    expect(inputArgs("/d/c", "mp4")).toEqual(["-f", "mov", "-protocol_whitelist", "file", "-i", "file:/d/c"]);
    expect(inputArgs("/d/c", "matroska")).toEqual(["-f", "matroska", "-protocol_whitelist", "file", "-i", "file:/d/c"]);
    expect(inputArgs("/d/c", "mpegts")).toEqual(["-f", "mpegts", "-protocol_whitelist", "file", "-i", "file:/d/c"]);
  });

  test.each(["relative/path", "http://x/y", "pipe:0", "-", "/a\nb"])("%j is not an input path", (p) => {
    expect(() => inputArgs(p, "mp4")).toThrow(/absolute local path/);
  });

  test("every builder's output passes the runner's check", () => {
    const i = info(v("vp8"), a("opus"), "matroska");
    for (const args of [
      segmentArgs({ input: "/in", container: "matroska", output: "/o.ts", info: i, offsetSec: 1 }),
      posterArgs({ input: "/seg.ts", output: "/p.jpg" }),
      recordingArgs({ concatListFile: "/l.ffconcat", output: "/r.mp4" }),
    ])
      expect(() => assertPinnedInputs(args)).not.toThrow();
    expect(() => assertPinnedInputs(["-safe", "0", ...ownConcatInputArgs("/l"), ...inputArgs("/x", "mp4"), "-f", "mp4", "/o"])).not.toThrow();
  });

  const refused: string[][] = [
    ["-f", "image2", "-protocol_whitelist", "file", "-i", "file:/x%d.png"],
    ["-f", "dash", "-protocol_whitelist", "file", "-i", "file:/x.mpd"],
    ["-f", "mov", "-protocol_whitelist", "file", "-i", "/x.mp4"],
    ["-f", "mov", "-protocol_whitelist", "file", "-i", "file:/x.mp4", "-f", "mov", "-i", "file:/y.mp4"],
  ];
  test("argument lists that did not come from the builders are refused", () => {
    for (const args of refused) expect(() => assertPinnedInputs(args)).toThrow();
  });
});

describe("segmentArgs with a poster", () => {
  test("a copied stream decodes only its key frames for the poster; a transcoded one decodes anyway", () => {
    const copy = segmentArgs({ input: "/in", container: "mp4", output: "/o.ts", info: info(v("h264"), a("aac")), offsetSec: 0, poster: "/p.jpg" });
    expect(copy.indexOf("-skip_frame")).toBeLessThan(copy.indexOf("-i"));
    expect(after(copy, "-skip_frame")).toBe("nokey");
    expect(copy.slice(-1)).toEqual(["/p.jpg"]);
    expect(after(copy.slice(copy.indexOf("/o.ts")), "-frames:v")).toBe("1");
    const enc = segmentArgs({
      input: "/in",
      container: "matroska",
      output: "/o.ts",
      info: info(v("vp8"), a("opus"), "matroska"),
      offsetSec: 0,
      poster: "/p.jpg",
    });
    expect(enc).not.toContain("-skip_frame");
    expect(enc.slice(-1)).toEqual(["/p.jpg"]);
    expect(seg(info(v("h264"), a("aac")))).not.toContain("-skip_frame");
  });
});
