import { BitReader } from "./bits.ts";

/** A frame's own picture size, when its header carries one; `key` when it decodes alone. */
export interface FrameHeader {
  key: boolean;
  width?: number;
  height?: number;
}

/** VP8: key frames carry the size (RFC 6386 §9.1); inter frames cannot change it. */
export function vp8Frame(f: Uint8Array): FrameHeader {
  if (f.length < 3) throw new RangeError("VP8 frame shorter than its tag");
  if (f[0]! & 1) return { key: false };
  if (f.length < 10 || f[3] !== 0x9d || f[4] !== 0x01 || f[5] !== 0x2a) throw new RangeError("VP8 key frame without its start code");
  return { key: true, width: ((f[7]! << 8) | f[6]!) & 0x3fff, height: ((f[9]! << 8) | f[8]!) & 0x3fff };
}

/** The frames of a VP9 superframe (or the one frame a block holds). */
export function vp9Frames(b: Uint8Array): Uint8Array[] {
  const last = b[b.length - 1];
  if (last !== undefined && (last & 0xe0) === 0xc0) {
    const sizeBytes = ((last >> 3) & 3) + 1;
    const n = (last & 7) + 1;
    const index = 2 + sizeBytes * n;
    if (b.length >= index && b[b.length - index] === last) {
      const out: Uint8Array[] = [];
      let at = 0;
      for (let i = 0; i < n; i++) {
        let size = 0;
        for (let k = sizeBytes - 1; k >= 0; k--) size = size * 256 + b[b.length - index + 1 + i * sizeBytes + k]!;
        if (at + size > b.length - index) throw new RangeError("VP9 superframe index runs past the block");
        out.push(b.subarray(at, at + size));
        at += size;
      }
      return out;
    }
  }
  return [b];
}

function vp9SyncCode(r: BitReader): void {
  if (r.bits(24) !== 0x498342) throw new RangeError("VP9 frame without its sync code");
}

function vp9ColorConfig(r: BitReader, profile: number): void {
  if (profile >= 2) r.bit();
  const cs = r.bits(3);
  if (cs !== 7) {
    r.bit();
    if (profile === 1 || profile === 3) r.skip(3);
  } else if (profile === 1 || profile === 3) r.bit();
}

/**
 * VP9 uncompressed header (VP9 bitstream spec §6.2): key and intra-only frames carry a size, and
 * so does an inter frame that takes none of its references' sizes — every one of them is read.
 */
export function vp9Frame(f: Uint8Array): FrameHeader {
  const r = new BitReader(f);
  if (r.bits(2) !== 2) throw new RangeError("VP9 frame marker missing");
  const profile = r.bit() | (r.bit() << 1);
  if (profile === 3) r.bit();
  if (r.bit()) return { key: false }; // show_existing_frame: no new picture
  const key = r.bit() === 0;
  const show = r.bit();
  const errorRes = r.bit();
  const size = () => ({ width: r.bits(16) + 1, height: r.bits(16) + 1 });
  if (key) {
    vp9SyncCode(r);
    vp9ColorConfig(r, profile);
    return { key: true, ...size() };
  }
  const intraOnly = show ? 0 : r.bit();
  if (!errorRes) r.skip(2);
  if (intraOnly) {
    vp9SyncCode(r);
    if (profile > 0) vp9ColorConfig(r, profile);
    r.skip(8);
    return { key: false, ...size() };
  }
  r.skip(8); // refresh_frame_flags
  r.skip(3 * 4); // ref_frame_idx + sign bias
  for (let i = 0; i < 3; i++) if (r.bit()) return { key: false };
  return { key: false, ...size() };
}
