import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runFfmpeg, type PacketSpan } from "../../core/media/ffmpeg.ts";
import { locateFfmpeg, locateFfprobe } from "../../core/media/ffmpeg-locate.ts";
import { inputArgs, TS_LEAD_SEC } from "../../core/media/ffmpeg-args.ts";
import { probeChunk, type ProbeContainer } from "../../core/media/probe/chunk-probe.ts";
import { MediaError } from "../../core/media/media-error.ts";
import { tsPacketSpan } from "../../core/media/ts-span.ts";
import { assembleRecording, makePoster, makeSegment, type MadeSegment } from "../../core/media/segment.ts";

// Real ffmpeg on a 2-core box: media is 320x240, 1 s per chunk, generated here.
setDefaultTimeout(60_000);

let FFMPEG = "";
let FFPROBE = "";
let dir = "";
beforeAll(async () => {
  FFMPEG = await locateFfmpeg(null);
  FFPROBE = locateFfprobe(FFMPEG);
  dir = mkdtempSync(path.join(tmpdir(), "rter-media-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function sh(bin: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn([bin, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}
async function ff(args: string[]): Promise<void> {
  const r = await sh(FFMPEG, ["-hide_banner", "-nostdin", "-v", "error", "-y", ...args]);
  if (r.code !== 0) throw new Error(`ffmpeg ${args.join(" ")}: ${r.stderr}`);
}
const numbers = (csv: string) =>
  csv
    .split("\n")
    .map((l) => l.split(",")[0]!.trim())
    .filter((x) => /^-?\d/.test(x))
    .map(Number);
async function entries(file: string, stream: "v" | "a", what: string): Promise<number[]> {
  const r = await sh(FFPROBE, ["-v", "error", "-select_streams", stream, "-show_entries", what, "-of", "csv=p=0", file]);
  return numbers(r.stdout);
}
/** ffprobe's packet span of a file: first pts to last pts + duration over all streams. */
async function ffprobeSpan(file: string): Promise<PacketSpan> {
  const r = await sh(FFPROBE, ["-v", "error", "-print_format", "json", "-show_entries", "stream=index,time_base:packet=stream_index,pts,duration", file]);
  const j = JSON.parse(r.stdout) as { streams: { index: number; time_base: string }[]; packets: { stream_index: number; pts: number; duration?: number }[] };
  const tb = new Map(
    j.streams.map((x) => {
      const [n, d] = x.time_base.split("/").map(Number);
      return [x.index, n! / d!];
    }),
  );
  let startSec = Infinity;
  let endSec = -Infinity;
  for (const p of j.packets) {
    const u = tb.get(p.stream_index)!;
    startSec = Math.min(startSec, p.pts * u);
    endSec = Math.max(endSec, (p.pts + (p.duration ?? 0)) * u);
  }
  return { startSec, endSec, packets: j.packets.length };
}
async function codecOf(file: string, stream: "v" | "a"): Promise<{ codec_name: string; width?: number; height?: number }> {
  const r = await sh(FFPROBE, ["-v", "error", "-select_streams", `${stream}:0`, "-show_entries", "stream=codec_name,width,height", "-of", "json", file]);
  return (JSON.parse(r.stdout) as { streams: { codec_name: string; width?: number; height?: number }[] }).streams[0]!;
}
async function formatDuration(file: string): Promise<number> {
  const r = await sh(FFPROBE, ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", file]);
  return Number(r.stdout.trim());
}
function strictlyIncreasing(xs: number[]): { i: number; prev: number; next: number }[] {
  const bad = [];
  for (let i = 1; i < xs.length; i++) if (!(xs[i]! > xs[i - 1]!)) bad.push({ i, prev: xs[i - 1]!, next: xs[i]! });
  return bad;
}
async function rejection(p: Promise<unknown>): Promise<MediaError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MediaError);
    return e as MediaError;
  }
  throw new Error("expected a MediaError");
}

const X264 = ["-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-pix_fmt", "yuv420p"];
interface Kind {
  name: string;
  ext: string;
  container: ProbeContainer;
  enc: string[];
  remuxed: boolean;
}
const KINDS: Kind[] = [
  // x264's default B-frames make the first DTS negative: the case -avoid_negative_ts is about.
  { name: "MP4 H.264/AAC", ext: "mp4", container: "mp4", enc: [...X264, "-c:a", "aac", "-f", "mp4"], remuxed: true },
  {
    name: "WebM VP8/Opus",
    ext: "webm",
    container: "matroska",
    enc: ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", "-g", "25", "-c:a", "libopus", "-f", "webm"],
    remuxed: false,
  },
  // ffmpeg 5.1 refuses H.264 in `-f webm`; Chromium's MediaRecorder output is Matroska-compatible.
  { name: "WebM (Matroska) H.264/Opus", ext: "webm", container: "matroska", enc: [...X264, "-c:a", "libopus", "-f", "matroska"], remuxed: false },
  { name: "MPEG-TS H.264/AAC", ext: "ts", container: "mpegts", enc: [...X264, "-c:a", "aac", "-f", "mpegts"], remuxed: true },
];

type Made = MadeSegment & { file: string; offsetSec: number };
/** Segments per kind, for the poster and recording tests. */
const made = new Map<string, Made[]>();

/** Chunk k of a recording: second k of the test pattern, its own tone, timestamps from 0. */
async function chunk(file: string, k: number, enc: string[], size = "320x240"): Promise<string> {
  const seek = k > 0 ? ["-ss", String(k)] : [];
  await ff([
    ...seek,
    "-t",
    "1",
    "-f",
    "lavfi",
    "-i",
    `testsrc2=size=${size}:rate=25`,
    "-f",
    "lavfi",
    "-i",
    `sine=frequency=${440 + 110 * k}:sample_rate=48000:duration=1`,
    ...enc,
    file,
  ]);
  return file;
}

function playlist(segs: { file: string; durationSec: number }[]): string {
  const target = Math.ceil(Math.max(...segs.map((s) => s.durationSec)));
  const body = segs.map((s) => `#EXTINF:${s.durationSec.toFixed(6)},\n${path.basename(s.file)}`).join("\n");
  return `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:${target}\n#EXT-X-MEDIA-SEQUENCE:0\n${body}\n#EXT-X-ENDLIST\n`;
}

for (const kind of KINDS) {
  describe(kind.name, () => {
    const sub = () => path.join(dir, kind.name.replace(/\W+/g, "-"));
    const inputs: string[] = [];
    const segs: Made[] = [];
    made.set(kind.name, segs);

    beforeAll(async () => {
      await Bun.$`mkdir -p ${sub()}`;
      // Two at a time: the box has two cores.
      for (let k = 0; k < 5; k += 2) {
        const batch = [k, k + 1].filter((i) => i < 5).map((i) => chunk(path.join(sub(), `chunk-${i}.${kind.ext}`), i, kind.enc));
        inputs.push(...(await Promise.all(batch)));
      }
      let offsetSec = 0;
      for (let k = 0; k < 5; k++) {
        const file = path.join(sub(), `seg-${k}.ts`);
        const m = await makeSegment({ ffmpeg: FFMPEG, container: kind.container, input: inputs[k]!, output: file, offsetSec, timeoutMs: 20_000 });
        segs.push({ ...m, file, offsetSec });
        offsetSec += m.durationSec;
      }
      await Bun.write(path.join(sub(), "index.m3u8"), playlist(segs));
    });

    test("five chunks become five segments, remuxed only when the codecs allow", () => {
      expect(segs).toHaveLength(5);
      for (const s of segs) {
        expect(s.remuxed).toBe(kind.remuxed);
        expect(s.durationSec).toBeGreaterThan(0.95);
        expect(s.durationSec).toBeLessThan(1.1);
      }
    });

    test("the playlist decodes with nothing on stderr and lasts as long as the chunks", async () => {
      const m3u8 = path.join(sub(), "index.m3u8");
      const r = await sh(FFMPEG, ["-hide_banner", "-nostdin", "-v", "error", "-i", m3u8, "-f", "null", "-"]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe("");
      // The chunks' packet spans, as makeSegment's in-process probe read them.
      const sum = segs.reduce((t, x) => t + x.info.durationSec!, 0);
      const total = await formatDuration(m3u8);
      expect(Math.abs(total - sum) / sum).toBeLessThan(0.02);
      const extinf = segs.reduce((s, x) => s + x.durationSec, 0);
      expect(Math.abs(total - extinf)).toBeLessThan(0.05);
    });

    test("video and audio timestamps strictly increase across the whole playlist", async () => {
      const m3u8 = path.join(sub(), "index.m3u8");
      // Packets come in decode order, where B-frames put PTS out of order by design; DTS must
      // increase, and decoded frames (presentation order) must have increasing PTS.
      const vDts = await entries(m3u8, "v", "packet=dts_time");
      const vPts = await entries(m3u8, "v", "frame=pts_time");
      const aPts = await entries(m3u8, "a", "packet=pts_time");
      expect(vDts.length).toBe(125);
      expect(vPts.length).toBe(125);
      expect(aPts.length).toBeGreaterThan(220);
      expect(strictlyIncreasing(vDts)).toEqual([]);
      expect(strictlyIncreasing(vPts)).toEqual([]);
      expect(strictlyIncreasing(aPts)).toEqual([]);
    });

    test("no packet of a segment reaches into the next one; the in-process reader agrees with ffprobe", async () => {
      const spans = [];
      for (const s of segs) {
        const mine = tsPacketSpan(await Bun.file(s.file).bytes())!;
        const theirs = await ffprobeSpan(s.file);
        expect(mine.startSec).toBeCloseTo(theirs.startSec, 6);
        expect(mine.endSec).toBeCloseTo(theirs.endSec, 6);
        expect(mine.startSec).toBeGreaterThanOrEqual(TS_LEAD_SEC + s.offsetSec - 1e-6);
        spans.push(mine);
      }
      for (let k = 1; k < spans.length; k++) {
        expect(spans[k]!.startSec).toBeGreaterThanOrEqual(spans[k - 1]!.endSec - 1e-6);
        expect(spans[k]!.startSec - spans[k - 1]!.endSec).toBeLessThan(0.05);
      }
    });
  });
}

describe("poster and recording", () => {
  const kind = KINDS[0]!;
  const sub = () => path.join(dir, kind.name.replace(/\W+/g, "-"));
  const segs = () => made.get(kind.name)!;
  const segFiles = () => segs().map((s) => s.file);

  test("the poster is a JPEG of the segment's first frame, not upscaled", async () => {
    const out = path.join(dir, "poster.jpg");
    await makePoster({ ffmpeg: FFMPEG, input: segFiles()[2]!, output: out, timeoutMs: 10_000 });
    const head = new Uint8Array(await Bun.file(out).slice(0, 2).arrayBuffer());
    expect([...head]).toEqual([0xff, 0xd8]);
    expect(await codecOf(out, "v")).toMatchObject({ codec_name: "mjpeg", width: 320, height: 240 });
  });

  test("the segment run writes the poster too: the same segment bytes when copying, a JPEG either way", async () => {
    for (const kind of [KINDS[0]!, KINDS[1]!]) {
      const input = await chunk(path.join(dir, `posterin.${kind.ext}`), 0, kind.enc);
      const plain = await makeSegment({
        ffmpeg: FFMPEG,
        container: kind.container,
        input,
        output: path.join(dir, "plain.ts"),
        offsetSec: 2,
        timeoutMs: 20_000,
      });
      const jpg = path.join(dir, `with-${kind.ext}.jpg`);
      const both = await makeSegment({
        ffmpeg: FFMPEG,
        container: kind.container,
        input,
        output: path.join(dir, "both.ts"),
        offsetSec: 2,
        timeoutMs: 20_000,
        poster: jpg,
      });
      expect([plain.poster, both.poster]).toEqual([false, true]);
      expect(both.durationSec).toBe(plain.durationSec);
      if (kind.remuxed) expect(Buffer.compare(await Bun.file(path.join(dir, "both.ts")).bytes(), await Bun.file(path.join(dir, "plain.ts")).bytes())).toBe(0);
      expect(await codecOf(jpg, "v")).toMatchObject({ codec_name: "mjpeg", width: 320, height: 240 });
    }
  });

  for (const withDurations of [true, false]) {
    test(`the recording is one faststart MP4 as long as the segments (${withDurations ? "with" : "without"} durations)`, async () => {
      const files = segFiles();
      const durations = segs().map((s) => s.durationSec);
      const out = path.join(dir, `recording-${withDurations}.mp4`);
      await assembleRecording({
        ffmpeg: FFMPEG,
        segmentFiles: files,
        segmentDurationsSec: withDurations ? durations : undefined,
        output: out,
        timeoutMs: 20_000,
      });
      const total = await formatDuration(path.join(sub(), "index.m3u8"));
      expect(Math.abs((await formatDuration(out)) - total) / total).toBeLessThan(0.02);
      expect(await Bun.file(`${out}.ffconcat`).exists()).toBe(false);

      const buf = new Uint8Array(
        await Bun.file(out)
          .slice(0, 1 << 20)
          .arrayBuffer(),
      );
      const view = new DataView(buf.buffer);
      const boxes: string[] = [];
      for (let at = 0; at + 8 <= buf.length && boxes.length < 8; ) {
        const size = view.getUint32(at);
        boxes.push(new TextDecoder().decode(buf.slice(at + 4, at + 8)));
        if (size < 8) break;
        at += size;
      }
      expect(boxes.indexOf("moov")).toBeGreaterThanOrEqual(0);
      expect(boxes.indexOf("moov")).toBeLessThan(boxes.indexOf("mdat"));

      // passthrough: the CLI's default frame-rate rounding would flag the sub-frame gaps that
      // the recording inherits at segment joins; players go by timestamps.
      const r = await sh(FFMPEG, ["-hide_banner", "-nostdin", "-v", "error", "-i", out, "-fps_mode", "passthrough", "-f", "null", "-"]);
      expect(r.stderr).toBe("");
      expect(strictlyIncreasing(await entries(out, "v", "frame=pts_time"))).toEqual([]);
      expect(strictlyIncreasing(await entries(out, "a", "packet=pts_time"))).toEqual([]);
    });
  }
});

describe("inputs from the field", () => {
  const seg = (input: string, output: string, container: ProbeContainer = "mp4") =>
    makeSegment({ ffmpeg: FFMPEG, container, input, output, offsetSec: 0, timeoutMs: 20_000 });

  test("WebM written live, without a duration (as MediaRecorder writes it), is measured from its packets", async () => {
    const out = path.join(dir, "live.webm");
    // Writing to a pipe leaves the muxer no way to go back and fill in the duration.
    await Bun.$`${FFMPEG} -hide_banner -nostdin -v error -t 1 -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine=sample_rate=48000:duration=1 -c:v libvpx -deadline realtime -cpu-used 8 -c:a libopus -f webm pipe:1 > ${out}`;
    expect(await formatDuration(out)).toBeNaN();
    // The in-process probe reads the packets ffprobe reads, Segment and Clusters of unknown size included.
    const mine = probeChunk(await Bun.file(out).bytes(), "matroska");
    expect(mine.video?.codec).toBe("vp8");
    const theirs = await ffprobeSpan(out);
    expect(Math.abs(mine.span!.startSec - theirs.startSec)).toBeLessThan(0.03);
    expect(mine.span!.endSec).toBeCloseTo(theirs.endSec, 1);
    const made = await seg(out, path.join(dir, "live.ts"), "matroska");
    expect(made.info.durationSec).toBeGreaterThan(0.9);
    expect(made.durationSec).toBeCloseTo(1, 1);
  });

  test("a portrait phone's rotated H.264 is re-encoded upright (MPEG-TS cannot carry the rotation)", async () => {
    const plain = await chunk(path.join(dir, "plain.mp4"), 0, [...X264, "-c:a", "aac", "-f", "mp4"]);
    const rotated = path.join(dir, "rotated.mp4");
    await ff(["-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=90", rotated]);
    const made = await seg(rotated, path.join(dir, "rotated.ts"));
    expect(made.info.video?.rotation).toBeDefined();
    expect(made.remuxed).toBe(false);
    expect(await codecOf(path.join(dir, "rotated.ts"), "v")).toMatchObject({ codec_name: "h264", width: 240, height: 320 });
  });

  test("HEVC + AAC (an iPhone's MP4) becomes H.264 with the AAC copied", async () => {
    const hevc = await chunk(path.join(dir, "hevc.mp4"), 0, [
      "-c:v",
      "libx265",
      "-preset",
      "ultrafast",
      "-x265-params",
      "log-level=error",
      "-tag:v",
      "hvc1",
      "-c:a",
      "aac",
      "-f",
      "mp4",
    ]);
    const made = await seg(hevc, path.join(dir, "hevc.ts"));
    expect(made.remuxed).toBe(false);
    expect((await codecOf(path.join(dir, "hevc.ts"), "v")).codec_name).toBe("h264");
    expect((await codecOf(path.join(dir, "hevc.ts"), "a")).codec_name).toBe("aac");
  });
});

describe("inputs that are refused", () => {
  // A path that is not ffmpeg: if a refusal got as far as running it, the error would say so.
  const NO_FFMPEG = "/nonexistent/ffmpeg";
  const refuse = (input: string, ffmpeg = NO_FFMPEG, timeoutMs = 10_000) =>
    rejection(makeSegment({ ffmpeg, container: "mp4", input, output: path.join(dir, "refused.ts"), offsetSec: 0, timeoutMs }));

  test("the first half of an MP4 is unprocessable, with a reason", async () => {
    const whole = await chunk(path.join(dir, "whole.mp4"), 0, [...X264, "-c:a", "aac", "-f", "mp4"]);
    const bytes = await Bun.file(whole).bytes();
    const half = path.join(dir, "half.mp4");
    await Bun.write(half, bytes.subarray(0, bytes.length >> 1));
    const e = await refuse(half);
    expect(e.code).toBe("unprocessable");
    expect(e.reason).toMatch(/^MP4: /);
    expect(e.reason).not.toContain(dir);
    expect(await Bun.file(path.join(dir, "refused.ts")).exists()).toBe(false);
  });

  test("a text file named .mp4 is unprocessable", async () => {
    const txt = path.join(dir, "notes.mp4");
    await Bun.write(txt, "this is not a video\n".repeat(50));
    const e = await refuse(txt);
    expect(e.code).toBe("unprocessable");
    expect(e.status).toBe(422);
  });

  test("a 40 s chunk is refused on its probe, before ffmpeg runs", async () => {
    const long = path.join(dir, "long.mp4");
    await ff(["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=1:duration=40", "-c:v", "libx264", "-preset", "ultrafast", long]);
    const e = await refuse(long);
    expect(e.code).toBe("unprocessable");
    expect(e.message).toMatch(/^duration 40\.0 s is over the 30 s limit/);
  });

  test("a 4096x4096 frame is refused on its probe", async () => {
    const big = path.join(dir, "big.mp4");
    await ff(["-f", "lavfi", "-i", "color=size=4096x4096:rate=25:duration=0.04", "-c:v", "libx264", "-preset", "ultrafast", big]);
    const e = await refuse(big);
    expect(e.code).toBe("unprocessable");
    expect(e.message).toMatch(/4096x4096 is over the 3840x2160 limit/);
  });

  test("an audio-only file is refused: no video stream", async () => {
    const audio = path.join(dir, "audio.mp4");
    await ff(["-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", audio]);
    expect((await refuse(audio)).message).toBe("no video stream");
  });
});

describe("ffmpeg that never finishes, or wants too much", () => {
  let ts = "";
  beforeAll(async () => {
    ts = path.join(dir, "loop.ts");
    await ff(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1", "-c:v", "libx264", "-preset", "ultrafast", "-f", "mpegts", ts]);
  });
  // An endless input: the pinned chunk, looped at its own pace.
  const endless = () => ["-re", "-stream_loop", "-1", ...inputArgs(ts, "mpegts")];

  test("is SIGKILLed at the timeout and rejects as unavailable", async () => {
    const t0 = performance.now();
    const e = await rejection(runFfmpeg(FFMPEG, ["-nostdin", "-v", "error", ...endless(), "-f", "null", "-"], { timeoutMs: 600 }));
    expect(e.code).toBe("unavailable");
    expect(e.reason).toMatch(/timed out after 600 ms/);
    expect(performance.now() - t0).toBeLessThan(3_000);
  });

  test("is killed when the job is cancelled", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const e = await rejection(runFfmpeg(FFMPEG, ["-nostdin", ...endless(), "-f", "null", "-"], { timeoutMs: 30_000, signal: ac.signal }));
    expect(e.code).toBe("unavailable");
    expect(e.reason).toMatch(/cancelled/);
  });

  test("past its CPU allowance it is stopped by the kernel and the chunk is refused, saying why", async () => {
    const args = ["-nostdin", "-v", "error", "-stream_loop", "-1", ...inputArgs(ts, "mpegts"), "-c:v", "libx264", "-preset", "slow", "-f", "null", "-"];
    const e = await rejection(runFfmpeg(FFMPEG, args, { timeoutMs: 60_000, limits: { memoryBytes: 2 * 1024 ** 3, cpuSec: 1 } }));
    expect(e.code).toBe("unprocessable");
    expect(e.reason).toBe("processing this chunk needs more than 1 s of CPU");
  });

  test("past its memory allowance it fails to allocate and the chunk is refused, saying why", async () => {
    const args = ["-nostdin", "-v", "error", ...inputArgs(ts, "mpegts"), "-vf", "scale=3840:2160", "-c:v", "libx264", "-preset", "veryfast", "-f", "null", "-"];
    const e = await rejection(runFfmpeg(FFMPEG, args, { timeoutMs: 60_000, limits: { memoryBytes: 400 * 1024 ** 2, cpuSec: 60 } }));
    expect(e.code).toBe("unprocessable");
    expect(e.reason).toBe("processing this chunk needs more than 400 MiB of memory");
  });

  test("a chunk that is a FIFO is refused without being opened", async () => {
    const fifo = path.join(dir, "stuck.fifo");
    await Bun.$`mkfifo ${fifo}`;
    const t0 = performance.now();
    const e = await rejection(
      makeSegment({ ffmpeg: FFMPEG, container: "mpegts", input: fifo, output: path.join(dir, "stuck.ts"), offsetSec: 0, timeoutMs: 700 }),
    );
    expect(e.code).toBe("internal");
    expect(performance.now() - t0).toBeLessThan(3_000);
  });

  test("a missing binary is unavailable, not the input's fault", async () => {
    const e = await rejection(runFfmpeg("/nonexistent/ffmpeg", ["-version"], { timeoutMs: 1_000 }));
    expect(e.code).toBe("unavailable");
  });

  test("ffmpeg's stderr is kept apart from the reason, bounded to its tail", async () => {
    const e = await rejection(
      runFfmpeg(FFMPEG, ["-nostdin", "-v", "error", ...inputArgs("/nonexistent/input.mp4", "mp4"), "-f", "null", "-"], { timeoutMs: 5_000 }),
    );
    expect(e.code).toBe("unprocessable");
    expect(e.reason).toBe("ffmpeg could not read or convert the media (exit 1)");
    expect(e.stderrTail).toMatch(/No such file or directory/);
    const ok = await runFfmpeg(FFMPEG, ["-nostdin", "-v", "info", "-stream_loop", "3", ...inputArgs(ts, "mpegts"), "-f", "null", "-"], { timeoutMs: 10_000 });
    expect(ok.stderr.length).toBeLessThanOrEqual(4096);
    expect(ok.stderr).toMatch(/frame=/);
    expect(ok.cpuMs).toBeGreaterThan(0);
  });

  test.each([
    ["no demuxer named", ["-i", "file:/tmp/x.mp4"]],
    ["a demuxer that opens other files", ["-f", "hls", "-protocol_whitelist", "file", "-i", "file:/tmp/x.m3u8"]],
    ["an SDP", ["-f", "sdp", "-protocol_whitelist", "file", "-i", "file:/tmp/x.sdp"]],
    ["protocols beyond file", ["-f", "mov", "-protocol_whitelist", "file,http,tcp", "-i", "file:/tmp/x.mp4"]],
    ["no protocol whitelist", ["-f", "mov", "-i", "file:/tmp/x.mp4"]],
    ["a URL", ["-f", "mov", "-protocol_whitelist", "file", "-i", "http://example.invalid/x.mp4"]],
    ["a second input left open", [...inputArgs("/tmp/a.ts", "mpegts"), "-i", "file:/tmp/b.m3u8"]],
  ])("arguments with %s are refused before anything runs", async (_n, input) => {
    const e = await rejection(runFfmpeg(NOT_RUN, ["-nostdin", ...input, "-f", "null", "-"], { timeoutMs: 1_000 }));
    expect(e.code).toBe("internal");
    expect(e.reason).toMatch(/^refused to start ffmpeg: /);
  });
});

/** A binary that would fail differently if it were ever started. */
const NOT_RUN = "/nonexistent/ffmpeg";
