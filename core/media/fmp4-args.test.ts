import { expect, test } from "bun:test";
import { assertPinnedInputs } from "./ffmpeg-args.ts";
import { fmp4PosterArgs, fmp4RecordingArgs } from "./fmp4-args.ts";

test("recording: pinned mp4 demuxer, files only, copy, faststart", () => {
  const a = fmp4RecordingArgs({ input: "/tmp/in.mp4", output: "/tmp/out.mp4" });
  expect(() => assertPinnedInputs(a)).not.toThrow();
  expect(a.slice(a.indexOf("-f"), a.indexOf("-i") + 2)).toEqual(["-f", "mov", "-protocol_whitelist", "file", "-i", "file:/tmp/in.mp4"]);
  expect(a[a.indexOf("-movflags") + 1]).toBe("+faststart");
  expect(a[a.indexOf("-c") + 1]).toBe("copy");
  expect(a.at(-1)).toBe("/tmp/out.mp4");
});

test("poster: one frame, never wider than asked, pinned input", () => {
  const a = fmp4PosterArgs({ input: "/tmp/in", output: "out.jpg", width: 320 });
  expect(() => assertPinnedInputs(a)).not.toThrow();
  expect(a[a.indexOf("-i") + 1]).toBe("file:/tmp/in");
  expect(a[a.indexOf("-frames:v") + 1]).toBe("1");
  expect(a).toContain("scale='min(320,iw)':-2");
  expect(fmp4PosterArgs({ input: "/tmp/in", output: "o", width: 1 })).toContain("scale='min(16,iw)':-2");
  // A relative or odd path never reaches ffmpeg.
  expect(() => fmp4PosterArgs({ input: "in", output: "o" })).toThrow();
});
