/**
 * Reads a JPEG's marker structure in process (no decoder, no ffmpeg): the phone's grid still is
 * checked for what it claims before it is stored and served. Walks SOI, then length-prefixed
 * segments up to the frame header (SOF: the dimensions), then the scan to the EOI at the end.
 * Every step is bounded by the bytes given; nothing is decoded.
 */
export type JpegInfo = { ok: true; width: number; height: number; progressive: boolean } | { ok: false; detail: string };

/** SOFn markers that carry a frame header (C4 DHT, C8 JPG and CC DAC are not frames). */
const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);
/** Markers without a length: RSTn, SOI, EOI, TEM. */
const STANDALONE = (m: number) => (m >= 0xd0 && m <= 0xd9) || m === 0x01;

const fail = (detail: string): JpegInfo => ({ ok: false, detail });

export function jpegInfo(b: Uint8Array): JpegInfo {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return fail("not a JPEG (no SOI marker FF D8 at the start)");
  if (b[b.length - 2] !== 0xff || b[b.length - 1] !== 0xd9) return fail("truncated JPEG (no EOI marker FF D9 at the end)");
  let at = 2;
  let frame: { width: number; height: number; progressive: boolean } | null = null;
  while (at < b.length - 2) {
    if (b[at] !== 0xff) return fail(`expected a marker at byte ${at}, found 0x${b[at]!.toString(16).padStart(2, "0")}`);
    // Fill bytes (FF FF …) may precede a marker.
    let m = b[at + 1]!;
    while (m === 0xff && at + 2 < b.length) {
      at++;
      m = b[at + 1]!;
    }
    if (STANDALONE(m)) {
      if (m === 0xd8) return fail(`a second SOI at byte ${at}`);
      if (m === 0xd9) return fail(`EOI at byte ${at} before the end of the file`);
      at += 2;
      continue;
    }
    if (at + 4 > b.length) return fail(`segment header at byte ${at} runs past the end`);
    const len = (b[at + 2]! << 8) | b[at + 3]!;
    if (len < 2 || at + 2 + len > b.length) return fail(`segment 0x${m.toString(16)} at byte ${at} claims ${len} bytes, past the end`);
    if (SOF.has(m)) {
      if (frame) return fail(`a second frame header at byte ${at}`);
      if (len < 8) return fail(`frame header at byte ${at} is ${len} bytes, too short`);
      const height = (b[at + 5]! << 8) | b[at + 6]!;
      const width = (b[at + 7]! << 8) | b[at + 8]!;
      frame = { width, height, progressive: m === 0xc2 || m === 0xc6 || m === 0xca || m === 0xce };
    }
    if (m === 0xda) {
      if (!frame) return fail(`scan at byte ${at} before any frame header`);
      // Entropy-coded data follows up to the EOI (checked above); markers inside it are stuffed
      // (FF 00) or restarts, and progressive files have more scans: nothing further to read.
      return { ok: true, ...frame };
    }
    at += 2 + len;
  }
  return fail("no scan (SOS) before the end");
}
