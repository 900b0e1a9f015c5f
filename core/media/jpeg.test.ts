import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jpegInfo } from "./jpeg.ts";

let baseline: Uint8Array;
let progressive: Uint8Array;

function ffmpegJpeg(args: string[]): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "rter-jpeg-"));
  try {
    const out = join(dir, "still.jpg");
    const r = Bun.spawnSync(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=1", "-frames:v", "1", ...args, out]);
    if (r.exitCode !== 0) throw new Error(r.stderr.toString());
    return new Uint8Array(readFileSync(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

beforeAll(() => {
  baseline = ffmpegJpeg(["-q:v", "5"]);
  // ffmpeg's mjpeg encoder writes baseline only; a progressive SOF is made by patching the marker
  // (the structure reader does not decode, so this exercises exactly the marker path).
  progressive = baseline.slice();
  for (let i = 2; i < progressive.length - 1; i++)
    if (progressive[i] === 0xff && progressive[i + 1] === 0xc0) (progressive[i + 1] = 0xc2), (i = progressive.length);
});

describe("jpegInfo: structure of a JPEG without decoding it", () => {
  test("an ffmpeg-made still: its dimensions", () => {
    expect(jpegInfo(baseline)).toEqual({ ok: true, width: 320, height: 180, progressive: false });
    expect(jpegInfo(progressive)).toEqual({ ok: true, width: 320, height: 180, progressive: true });
  });

  const set16 = (b: Uint8Array, at: number, v: number) => ((b[at] = v >> 8), (b[at + 1] = v & 0xff));
  const markerAt = (b: Uint8Array, m: number) => {
    for (let i = 2; i < b.length - 1; i++) if (b[i] === 0xff && b[i + 1] === m) return i;
    throw new Error("marker not found");
  };
  const cases: [string, () => Uint8Array, RegExp][] = [
    ["empty", () => new Uint8Array(0), /no SOI/],
    ["a PNG", () => new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]), /no SOI/],
    ["HTML", () => new TextEncoder().encode("<html><script>alert(1)</script></html>"), /no SOI/],
    ["truncated in the scan", () => baseline.slice(0, baseline.length - 100), /truncated/],
    ["truncated in the headers", () => Uint8Array.from([...baseline.slice(0, 30), 0xff, 0xd9]), /past the end|expected a marker/],
    [
      "a segment length past the end",
      () => {
        const b = baseline.slice();
        set16(b, 4, 0xfff0);
        return b;
      },
      /past the end/,
    ],
    [
      "a segment length under 2",
      () => {
        const b = baseline.slice();
        set16(b, 4, 1);
        return b;
      },
      /past the end/,
    ],
    ["a second SOI", () => Uint8Array.from([0xff, 0xd8, 0xff, 0xd8, ...baseline.slice(2)]), /second SOI/],
    ["EOI before the end", () => Uint8Array.from([0xff, 0xd8, 0xff, 0xd9, ...baseline.slice(2)]), /EOI at byte/],
    [
      "garbage where a marker belongs",
      () => {
        const b = baseline.slice();
        b[markerAt(b, 0xdb)] = 0x00;
        return b;
      },
      /expected a marker/,
    ],
    [
      "a scan before the frame header",
      () => {
        const b = baseline.slice();
        b[markerAt(b, 0xc0) + 1] = 0xfe;
        return b;
      },
      /before any frame header/,
    ],
    ["only SOI and EOI", () => new Uint8Array([0xff, 0xd8, 0xff, 0xd9]), /EOI at byte|no scan/],
    ["100 000 fill bytes", () => Uint8Array.from([0xff, 0xd8, ...new Array(100_000).fill(0xff), 0xff, 0xd9]), /EOI at byte|no scan|past the end/],
  ];
  for (const [name, make, detail] of cases) {
    test(`refused: ${name}`, () => {
      const r = jpegInfo(make());
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.detail).toMatch(detail);
    });
  }

  test("random bytes never throw", () => {
    for (let i = 0; i < 2000; i++) {
      const b = crypto.getRandomValues(new Uint8Array(2 + (i % 300)));
      if (i % 2) (b[0] = 0xff), (b[1] = 0xd8), (b[b.length - 2] = 0xff), (b[b.length - 1] = 0xd9);
      expect(() => jpegInfo(b)).not.toThrow();
    }
  });
});
