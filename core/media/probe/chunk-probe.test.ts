import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { checkLimits } from "../limits.ts";
import { MediaError } from "../media-error.ts";
import { probeChunk, sniffContainer, type ProbeContainer } from "./chunk-probe.ts";

// Media is made here by ffmpeg, small and short: the box has two cores.
setDefaultTimeout(60_000);

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "rter-probe-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function ff(args: string[]): Promise<void> {
  const p = Bun.spawn(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", ...args], { stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(`ffmpeg ${args.join(" ")}: ${await new Response(p.stderr).text()}`);
}
async function ffprobe(file: string): Promise<{ streams: { codec_type: string; codec_name: string; width?: number; height?: number }[] }> {
  const p = Bun.spawn(["ffprobe", "-v", "error", "-of", "json", "-show_streams", file], { stdout: "pipe" });
  return JSON.parse(await new Response(p.stdout).text());
}
const bytes = (f: string) => Bun.file(path.join(dir, f)).bytes();

const H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25"];
const VP8 = ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"];
const VP9 = ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"];
const KINDS: { file: string; container: ProbeContainer; enc: string[]; size?: string; video: string; audio?: string }[] = [
  { file: "h264-aac.mp4", container: "mp4", enc: [...H264, "-c:a", "aac", "-f", "mp4"], video: "h264", audio: "aac" },
  {
    file: "h264-aac-frag.mp4",
    container: "mp4",
    enc: [...H264, "-c:a", "aac", "-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-f", "mp4"],
    video: "h264",
    audio: "aac",
  },
  { file: "h264-aac.ts", container: "mpegts", enc: [...H264, "-c:a", "aac", "-f", "mpegts"], video: "h264", audio: "aac" },
  { file: "vp8-opus.webm", container: "matroska", enc: [...VP8, "-c:a", "libopus", "-f", "webm"], video: "vp8", audio: "opus" },
  { file: "vp9-opus.webm", container: "matroska", enc: [...VP9, "-c:a", "libopus", "-f", "webm"], video: "vp9", audio: "opus" },
  { file: "h264-opus.mkv", container: "matroska", enc: [...H264, "-c:a", "libopus", "-f", "matroska"], video: "h264", audio: "opus" },
  // Cropping in the SPS: 4:2:0 needs even sizes, so x264 codes 16-px macroblocks and crops.
  { file: "cropped.ts", container: "mpegts", enc: [...H264, "-an", "-f", "mpegts"], size: "318x174", video: "h264" },
  {
    file: "hevc.mp4",
    container: "mp4",
    enc: ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-tag:v", "hvc1", "-an", "-f", "mp4"],
    size: "200x120",
    video: "hevc",
  },
];

describe("probeChunk reads what ffprobe reads", () => {
  beforeAll(async () => {
    for (const k of KINDS) {
      const audio = k.audio ? ["-f", "lavfi", "-i", "sine=sample_rate=48000:duration=1"] : [];
      await ff(["-f", "lavfi", "-i", `testsrc2=size=${k.size ?? "320x240"}:rate=25:duration=1`, ...audio, ...k.enc, path.join(dir, k.file)]);
    }
  });

  for (const k of KINDS) {
    test(k.file, async () => {
      const info = probeChunk(await bytes(k.file), k.container);
      const theirs = (await ffprobe(path.join(dir, k.file))).streams;
      const v = theirs.find((s) => s.codec_type === "video")!;
      expect(info.container).toBe(k.container);
      expect(info.video).toMatchObject({ codec: k.video, width: v.width!, height: v.height! });
      expect(info.video!.sizes).toEqual([{ width: v.width!, height: v.height! }]);
      if (k.audio) expect(info.audio?.codec).toBe(k.audio);
      else expect(info.audio).toBeUndefined();
      expect(info.durationSec!).toBeGreaterThan(0.95);
      expect(info.durationSec!).toBeLessThan(1.1);
      expect(info.firstKeyFrameSec).not.toBeNull();
      expect(info.firstKeyFrameSec!).toBeLessThan(0.05);
      if (k.video === "h264") expect(info.video!.pixFmt).toBe("yuv420p");
    });
  }
});

/**
 * A small picture, then a huge one, in one bitstream: the container's header and the first SPS
 * or key frame describe the small one only. The limit is 3840x2160; 4000x4000 is over it and
 * cheap to encode as a single frame.
 */
describe("a huge frame after small ones is found, in every container", () => {
  beforeAll(async () => {
    const f = (n: string) => path.join(dir, n);
    await ff(["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25:duration=0.2", ...H264, "-bsf:v", "h264_mp4toannexb", "-f", "h264", f("small.h264")]);
    await ff(["-f", "lavfi", "-i", "color=size=4000x4000:rate=25:duration=0.04", ...H264, "-f", "h264", f("big.h264")]);
    // Annex B streams concatenate as they are: the second brings its own SPS in band.
    await Bun.write(f("both.h264"), Buffer.concat([await Bun.file(f("small.h264")).bytes(), await Bun.file(f("big.h264")).bytes()]));
    for (const [out, fmt] of [
      ["both.mp4", "mp4"],
      ["both.ts", "mpegts"],
      ["both.mkv", "matroska"],
    ]) {
      await ff(["-r", "25", "-f", "h264", "-i", f("both.h264"), "-c", "copy", "-f", fmt!, f(out!)]);
    }
    for (const [codec, enc] of [
      ["vp8", VP8],
      ["vp9", VP9],
    ] as const) {
      await ff(["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25:duration=0.2", ...enc, "-f", "ivf", f(`small-${codec}.ivf`)]);
      await ff(["-f", "lavfi", "-i", "color=size=4000x4000:rate=25:duration=0.04", ...enc, "-f", "ivf", f(`big-${codec}.ivf`)]);
      await Bun.write(f(`${codec}.ffconcat`), `ffconcat version 1.0\nfile '${f(`small-${codec}.ivf`)}'\nfile '${f(`big-${codec}.ivf`)}'\n`);
      await ff(["-f", "concat", "-safe", "0", "-i", f(`${codec}.ffconcat`), "-c", "copy", "-f", "webm", f(`both-${codec}.webm`)]);
    }
  });

  test.each([
    ["both.mp4", "mp4"],
    ["both.ts", "mpegts"],
    ["both.mkv", "matroska"],
    ["both-vp8.webm", "matroska"],
    ["both-vp9.webm", "matroska"],
  ] as const)("%s is refused by the limits", async (file, container) => {
    const info = probeChunk(await bytes(file), container);
    // The stream's size is its first picture's; a check of that alone would pass.
    expect(info.video).toMatchObject({ width: 64, height: 64 });
    expect(() => checkLimits({ ...info, video: { ...info.video!, sizes: undefined } })).not.toThrow();
    expect(info.video!.sizes).toContainEqual({ width: 4000, height: 4000 });
    let reason = "";
    try {
      checkLimits(info);
    } catch (e) {
      reason = (e as MediaError).reason;
    }
    expect(reason).toBe("picture 4000x4000 is over the 3840x2160 limit");
  });
});

describe("bytes that are not what they claim", () => {
  test("the declared container must be the one the bytes are in", async () => {
    const ts = await bytes("h264-aac.ts");
    expect(sniffContainer(ts)).toBe("mpegts");
    for (const declared of ["mp4", "matroska"] as const) {
      expect(() => probeChunk(ts, declared)).toThrow(`the chunk was declared ${declared} but its bytes are mpegts`);
    }
  });

  /** Every outcome is a value: a probe result or an unprocessable MediaError, never a crash or hang. */
  function settle(b: Uint8Array, c: ProbeContainer): "ok" | "refused" {
    try {
      probeChunk(b, c);
      return "ok";
    } catch (e) {
      if (!(e instanceof MediaError) || e.code !== "unprocessable") throw e;
      expect(e.reason).not.toContain("\n");
      return "refused";
    }
  }

  test("Chromium's recording stopped before its first frame (EBML header, then zeros) is refused as holding no media", async () => {
    // What Chromium 156's MediaRecorder writes when stopped before its muxer had a frame, for
    // video/x-matroska too: a 36-byte EBML header of DocType "webm" and 74 zero bytes.
    const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
    const header = [0x42, 0x86, 0x81, 1, 0x42, 0xf7, 0x81, 1, 0x42, 0xf2, 0x81, 4, 0x42, 0xf3, 0x81, 8, 0x42, 0x82, 0x84, ...ascii("webm")];
    header.push(0x42, 0x87, 0x81, 4, 0x42, 0x85, 0x81, 2);
    const empty = new Uint8Array(110);
    empty.set([0x1a, 0x45, 0xdf, 0xa3, 0x80 | header.length, ...header]);
    expect(sniffContainer(empty)).toBe("matroska");
    expect(() => probeChunk(empty, "matroska")).toThrow("WebM: no media: the file is 74 zero bytes from byte 36 on (no Segment)");
    // A zero byte where an element should start, with more after it, is still a bad header.
    const damaged = new Uint8Array(await bytes("vp8-opus.webm"));
    const segmentAt = damaged.findIndex((_, i) => damaged[i] === 0x18 && damaged[i + 1] === 0x53 && damaged[i + 2] === 0x80 && damaged[i + 3] === 0x67);
    damaged[segmentAt] = 0;
    expect(() => probeChunk(damaged, "matroska")).toThrow(`WebM: bad element header at byte ${segmentAt}`);
  });

  for (const k of KINDS.slice(0, 6)) {
    test(`${k.file}: truncated anywhere or with bytes flipped, it is read or refused, never a crash`, async () => {
      const whole = await bytes(k.file);
      const outcomes = new Set<string>();
      for (let cut = 1; cut < whole.length; cut += Math.max(1, Math.floor(whole.length / 97))) outcomes.add(settle(whole.subarray(0, cut), k.container));
      // Deterministic corruption: a byte every so often set to 0xff, in the headers and the frames.
      for (let seed = 1; seed <= 60; seed++) {
        const b = new Uint8Array(whole);
        for (let i = (seed * 7919) % 400; i < b.length; i += 97 + seed * 13) b[i] = 0xff;
        outcomes.add(settle(b, k.container));
      }
      expect(outcomes.has("refused")).toBe(true);
    });
  }
});
