import { describe, expect, test } from "bun:test";
import { tsPacketSpan } from "./ts-span.ts";

// A minimal transport stream built by hand: PAT → PMT (H.264 on 0x100, AAC on 0x101) → PES.
const PMT_PID = 0x1000;
const V = 0x100;
const A = 0x101;

function packet(pid: number, start: boolean, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(188).fill(0xff);
  p[0] = 0x47;
  p[1] = (start ? 0x40 : 0) | (pid >> 8);
  p[2] = pid & 0xff;
  if (payload.length >= 184) {
    p[3] = 0x10;
    p.set(payload.subarray(0, 184), 4);
  } else {
    p[3] = 0x30; // adaptation field, stuffed, then payload
    p[4] = 183 - payload.length;
    if (p[4] > 0) p[5] = 0;
    p.set(payload, 188 - payload.length);
  }
  return p;
}

/** Splits a PES over as many TS packets as it needs. */
function pes(pid: number, data: Uint8Array): Uint8Array[] {
  const out = [];
  for (let i = 0; i < data.length; i += 184) out.push(packet(pid, i === 0, data.subarray(i, i + 184)));
  return out;
}

function ptsBytes(pts: number): number[] {
  const hi = Math.floor(pts / 2 ** 30) & 7;
  const lo = pts % 2 ** 30;
  return [0x21 | (hi << 1), (lo >> 22) & 0xff, ((lo >> 14) & 0xfe) | 1, (lo >> 7) & 0xff, ((lo << 1) & 0xfe) | 1];
}

function pesPacket(streamId: number, pts: number, payload: Uint8Array): Uint8Array {
  return new Uint8Array([0, 0, 1, streamId, 0, 0, 0x80, 0x80, 5, ...ptsBytes(pts), ...payload]);
}

/** `n` ADTS frames (1024 samples each) at 48 kHz, stereo, `size` bytes each. */
function adts(n: number, size = 40): Uint8Array {
  const f = new Uint8Array(size);
  f.set([0xff, 0xf1, (1 << 6) | (3 << 2), (2 << 6) | (size >> 11), (size >> 3) & 0xff, ((size & 7) << 5) | 0x1f, 0xfc]);
  const out = new Uint8Array(size * n);
  for (let i = 0; i < n; i++) out.set(f, i * size);
  return out;
}

function stream(videoPts: number[], audio: { pts: number; frames: number }[]): Uint8Array {
  const pat = [0, 0x00, 0xb0, 13, 0, 1, 0xc1, 0, 0, 0, 1, 0xe0 | (PMT_PID >> 8), PMT_PID & 0xff, 0, 0, 0, 0];
  const pmt = [0, 0x02, 0xb0, 9 + 10 + 4, 0, 1, 0xc1, 0, 0, 0xe1, 0, 0xf0, 0, 0x1b, 0xe1, 0x00, 0xf0, 0, 0x0f, 0xe1, 0x01, 0xf0, 0, 0, 0, 0, 0];
  const parts = [packet(0, true, new Uint8Array(pat)), packet(PMT_PID, true, new Uint8Array(pmt))];
  for (const p of videoPts) parts.push(...pes(V, pesPacket(0xe0, p, new Uint8Array(300).fill(7))));
  for (const a of audio) parts.push(...pes(A, pesPacket(0xc0, a.pts, adts(a.frames))));
  return Buffer.concat(parts);
}

describe("tsPacketSpan", () => {
  test("start is the earliest PTS; end the last frame plus its interval, or the last AAC sample", () => {
    const lead = 126_000;
    const video = Array.from({ length: 25 }, (_, i) => lead + i * 3600);
    const s = tsPacketSpan(
      stream(video, [
        { pts: lead, frames: 20 },
        { pts: lead + 20 * 1920, frames: 27 },
      ]),
    )!;
    expect(s.startSec).toBeCloseTo(1.4, 9);
    // 47 AAC frames × 1024 / 48000 = 1.002667 s beat 25 frames × 40 ms.
    expect(s.endSec).toBeCloseTo(1.4 + (47 * 1024) / 48000, 9);
    expect(s.packets).toBe(27);
  });

  test("B-frame order and a video-only stream", () => {
    const order = [0, 3, 1, 2, 6, 4, 5, 7].map((i) => 126_000 + i * 3000);
    const s = tsPacketSpan(stream(order, []))!;
    expect(s.startSec).toBeCloseTo(1.4, 9);
    expect(s.endSec).toBeCloseTo((126_000 + 8 * 3000) / 90_000, 9);
  });

  test("one frame falls back to the given frame length; PTS past 2^32 decode", () => {
    const big = 2 ** 32 + 90_000;
    const s = tsPacketSpan(stream([big], []), 0.5)!;
    expect(s.startSec).toBeCloseTo(big / 90_000, 9);
    expect(s.endSec).toBeCloseTo(big / 90_000 + 0.5, 9);
  });

  test("anything that is not a transport stream is null", () => {
    expect(tsPacketSpan(new Uint8Array(0))).toBeNull();
    expect(tsPacketSpan(new TextEncoder().encode("x".repeat(188 * 3)))).toBeNull();
    expect(tsPacketSpan(stream([], []))).toBeNull();
    const broken = stream([], [{ pts: 0, frames: 2 }]);
    // One stuffed packet: the 94-byte PES sits at its end, ADTS after the 14-byte PES header.
    broken[188 * 2 + (188 - 94) + 14] = 0;
    expect(tsPacketSpan(broken)).toBeNull();
  });
});
