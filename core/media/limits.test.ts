import { describe, expect, test } from "bun:test";
import { checkLimits, DEFAULT_LIMITS } from "./limits.ts";
import { MediaError } from "./media-error.ts";
import { parseProbeJson, type MediaInfo } from "./media-info.ts";

const ok: MediaInfo = {
  container: "matroska",
  durationSec: 2,
  video: { codec: "vp8", width: 640, height: 360, fps: 30 },
  audio: { codec: "opus", sampleRate: 48000, channels: 1 },
};

function reason(i: MediaInfo): string {
  try {
    checkLimits(i);
  } catch (e) {
    expect(e).toBeInstanceOf(MediaError);
    expect((e as MediaError).code).toBe("unprocessable");
    expect((e as MediaError).status).toBe(422);
    expect((e as MediaError).message).not.toContain("\n");
    return (e as MediaError).message;
  }
  throw new Error("expected a rejection");
}

describe("checkLimits", () => {
  test("an ordinary chunk passes, portrait 4K too", () => {
    expect(() => checkLimits(ok)).not.toThrow();
    expect(() => checkLimits({ ...ok, video: { codec: "h264", width: 2160, height: 3840 } })).not.toThrow();
    expect(() => checkLimits({ ...ok, audio: undefined })).not.toThrow();
  });

  test("no video stream", () => {
    expect(reason({ ...ok, video: undefined })).toBe("no video stream");
  });

  test("a claim of ten hours is refused; so is a missing duration", () => {
    expect(reason({ ...ok, durationSec: 36_000 })).toMatch(/duration 36000\.0 s is over the 30 s limit/);
    expect(reason({ ...ok, durationSec: 30.5 })).toMatch(/over the 30 s limit/);
    expect(reason({ ...ok, durationSec: null })).toBe("duration unknown");
    expect(() => checkLimits({ ...ok, durationSec: 30 })).not.toThrow();
  });

  test("16K, 4096 square and a 8-pixel sliver are refused", () => {
    expect(reason({ ...ok, video: { codec: "h264", width: 15360, height: 8640 } })).toMatch(/15360x8640 is over the 3840x2160 limit/);
    expect(reason({ ...ok, video: { codec: "h264", width: 4096, height: 4096 } })).toMatch(/over the 3840x2160/);
    expect(reason({ ...ok, video: { codec: "h264", width: 8, height: 240 } })).toMatch(/smaller than 16 px/);
    expect(reason({ ...ok, video: { codec: "h264", width: 0, height: 0 } })).toMatch(/smaller than 16 px/);
  });

  test("codecs outside the lists are refused by name", () => {
    expect(reason({ ...ok, video: { codec: "mjpeg", width: 640, height: 360 } })).toMatch(/unsupported video codec "mjpeg"/);
    expect(reason({ ...ok, audio: { codec: "pcm_mulaw", sampleRate: 8000, channels: 1 } })).toMatch(/unsupported audio codec "pcm_mulaw"/);
  });

  test("limits can be tightened per call and the defaults cannot be mutated", () => {
    expect(() => checkLimits(ok, { ...DEFAULT_LIMITS, maxDurationSec: 1 })).toThrow(/over the 1 s limit/);
    expect(Object.isFrozen(DEFAULT_LIMITS)).toBe(true);
  });
});

describe("parseProbeJson", () => {
  test("maps ffprobe's streams and format to MediaInfo, skipping cover art", () => {
    const i = parseProbeJson({
      format: { format_name: "mov,mp4,m4a,3gp,3g2,mj2", duration: "1.002000" },
      streams: [
        { codec_type: "video", codec_name: "mjpeg", width: 600, height: 600, disposition: { attached_pic: 1 } },
        {
          codec_type: "video",
          codec_name: "h264",
          width: 1920,
          height: 1080,
          avg_frame_rate: "30000/1001",
          pix_fmt: "yuv420p",
          side_data_list: [{ side_data_type: "Display Matrix", rotation: -90 }],
        },
        { codec_type: "audio", codec_name: "aac", sample_rate: "44100", channels: 2 },
      ],
    });
    expect(i).toEqual({
      container: "mp4",
      durationSec: 1.002,
      video: { codec: "h264", width: 1920, height: 1080, fps: 30000 / 1001, pixFmt: "yuv420p", rotation: 270 },
      audio: { codec: "aac", sampleRate: 44100, channels: 2 },
    });
  });

  test("missing duration and 0/0 frame rates become null/absent", () => {
    const i = parseProbeJson({
      format: { format_name: "matroska,webm" },
      streams: [{ codec_type: "video", codec_name: "vp8", width: 640, height: 480, avg_frame_rate: "0/0", r_frame_rate: "0/0" }],
    });
    expect(i).toEqual({ container: "matroska", durationSec: null, video: { codec: "vp8", width: 640, height: 480 } });
    expect(parseProbeJson({ format: { format_name: "mpegts", duration: "N/A" } })).toEqual({ container: "mpegts", durationSec: null });
  });
});
