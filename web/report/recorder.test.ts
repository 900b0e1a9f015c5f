import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { holdsMedia } from "./recorder.ts";

const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

/** An EBML header (the elements Chromium writes) of DocType `docType`, then `rest`. */
function ebml(docType: string, rest: number[]): Uint8Array {
  const body = [0x42, 0x86, 0x81, 1, 0x42, 0xf7, 0x81, 1, 0x42, 0xf2, 0x81, 4, 0x42, 0xf3, 0x81, 8, 0x42, 0x82, 0x80 | docType.length, ...ascii(docType)];
  body.push(0x42, 0x87, 0x81, 4, 0x42, 0x85, 0x81, 2);
  return new Uint8Array([0x1a, 0x45, 0xdf, 0xa3, 0x80 | body.length, ...body, ...rest]);
}

async function ffmpegHead(args: string[], file: string): Promise<Uint8Array> {
  const dir = mkdtempSync(path.join(tmpdir(), "rter-recorder-"));
  try {
    const out = path.join(dir, file);
    const p = Bun.spawn([
      "ffmpeg",
      "-hide_banner",
      "-nostdin",
      "-v",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      "testsrc2=size=160x120:rate=15:duration=0.2",
      ...args,
      out,
    ]);
    expect(await p.exited).toBe(0);
    return (await Bun.file(out).bytes()).subarray(0, 64);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("holdsMedia: which MediaRecorder outputs are worth a seq", () => {
  test("Chromium's recording stopped before its first frame (110 bytes: EBML header, zeros) holds none", () => {
    const empty = ebml("webm", new Array(74).fill(0));
    expect(empty.length).toBe(110);
    expect(holdsMedia(empty.subarray(0, 64))).toBe(false);
    expect(holdsMedia(empty)).toBe(false);
  });

  test("a header followed by a Segment holds media, live (unknown size) or finished", () => {
    const segment = [0x18, 0x53, 0x80, 0x67];
    expect(holdsMedia(ebml("matroska", [...segment, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toBe(true);
    expect(holdsMedia(ebml("webm", [...segment, 0x01, 0, 0, 0, 0, 0, 0x56, 0xf6]))).toBe(true);
  });

  test("anything the server should judge is kept: other containers, a header cut short, a non-zero byte", () => {
    expect(holdsMedia(new Uint8Array([0, 0, 0, 0x18, ...ascii("ftypisom")]))).toBe(true);
    expect(holdsMedia(new Uint8Array(188).fill(0x47))).toBe(true);
    expect(holdsMedia(ebml("webm", []))).toBe(true);
    expect(holdsMedia(ebml("webm", [0xec, 0x81, 0, 0, 0, 0]))).toBe(true);
    expect(holdsMedia(new Uint8Array([0x1a, 0x45, 0xdf]))).toBe(true);
  });

  test("files made by ffmpeg hold media", async () => {
    expect(holdsMedia(await ffmpegHead(["-c:v", "libvpx", "-deadline", "realtime", "-f", "webm"], "a.webm"))).toBe(true);
    expect(holdsMedia(await ffmpegHead(["-c:v", "libx264", "-preset", "ultrafast", "-f", "matroska"], "a.mkv"))).toBe(true);
  }, 60_000);
});
