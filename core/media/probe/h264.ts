import { annexBNals } from "./nal.ts";
import { BitReader, unescapeRbsp } from "./bits.ts";

/** What a sequence parameter set says about every picture that refers to it. */
export interface SpsInfo {
  width: number;
  height: number;
  /** ffmpeg's name for the layout (yuv420p for 8-bit 4:2:0), used to decide copy vs re-encode. */
  pixFmt: string;
}

export const H264_NAL_SPS = 7;
export const H264_NAL_IDR = 5;
export const HEVC_NAL_SPS = 33;

/** H.264 nal_unit_type of a NAL (first byte of the header). */
export const h264Type = (nal: Uint8Array) => nal[0]! & 0x1f;
/** HEVC nal_unit_type; IRAP pictures (key frames) are types 16–23. */
export const hevcType = (nal: Uint8Array) => (nal[0]! >> 1) & 0x3f;

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

function pixFmt(chroma: number, depth: number): string {
  const layout = ["gray", "yuv420p", "yuv422p", "yuv444p"][chroma] ?? "unknown";
  return depth === 8 ? layout : `${layout}${depth}`;
}

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

/** Picture size from an H.264 SPS NAL (header byte included), cropping applied. Throws on a short SPS. */
export function parseH264Sps(nal: Uint8Array): SpsInfo {
  const r = new BitReader(unescapeRbsp(nal.subarray(1)));
  const profile = r.bits(8);
  r.skip(16); // constraint flags, level
  r.ue(); // seq_parameter_set_id
  let chroma = 1;
  let separate = 0;
  let depth = 8;
  if (HIGH_PROFILES.has(profile)) {
    chroma = r.ue();
    if (chroma > 3) throw new RangeError("chroma_format_idc out of range");
    if (chroma === 3) separate = r.bit();
    depth = r.ue() + 8;
    r.ue(); // bit_depth_chroma
    r.bit(); // qpprime_y_zero_transform_bypass
    // biome-ignore lint/suspicious/noDuplicateElseIf: nested ifs, not an else-if chain: each r.bit() reads the next flag of the bitstream.
    if (r.bit()) for (let i = 0; i < (chroma !== 3 ? 8 : 12); i++) if (r.bit()) skipScalingList(r, i < 6 ? 16 : 64);
  }
  r.ue(); // log2_max_frame_num
  const pocType = r.ue();
  if (pocType === 0) r.ue();
  else if (pocType === 1) {
    r.bit();
    r.se();
    r.se();
    const n = r.ue();
    if (n > 255) throw new RangeError("num_ref_frames_in_pic_order_cnt_cycle out of range");
    for (let i = 0; i < n; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.bit(); // gaps_in_frame_num_allowed
  const wMbs = r.ue() + 1;
  const hMap = r.ue() + 1;
  const frameMbsOnly = r.bit();
  if (!frameMbsOnly) r.bit();
  r.bit(); // direct_8x8_inference
  let crop = [0, 0, 0, 0];
  if (r.bit()) crop = [r.ue(), r.ue(), r.ue(), r.ue()];
  const mono = chroma === 0 || separate === 1;
  const unitX = mono ? 1 : chroma === 3 ? 1 : 2;
  const unitY = (mono ? 1 : chroma === 1 ? 2 : 1) * (2 - frameMbsOnly);
  const width = wMbs * 16 - unitX * (crop[0]! + crop[1]!);
  const height = (2 - frameMbsOnly) * hMap * 16 - unitY * (crop[2]! + crop[3]!);
  return { width, height, pixFmt: pixFmt(separate ? 0 : chroma, depth) };
}

/** Picture size from an HEVC SPS NAL (two header bytes included), conformance window applied. */
export function parseHevcSps(nal: Uint8Array): SpsInfo {
  const r = new BitReader(unescapeRbsp(nal.subarray(2)));
  r.skip(4); // vps id
  const subLayers = r.bits(3);
  r.skip(1);
  r.skip(96); // general profile_tier_level
  const present: [number, number][] = [];
  for (let i = 0; i < subLayers; i++) present.push([r.bit(), r.bit()]);
  if (subLayers > 0) r.skip(2 * (8 - subLayers));
  for (const [p, l] of present) r.skip((p ? 88 : 0) + (l ? 8 : 0));
  r.ue(); // sps id
  const chroma = r.ue();
  if (chroma > 3) throw new RangeError("chroma_format_idc out of range");
  const separate = chroma === 3 ? r.bit() : 0;
  let width = r.ue();
  let height = r.ue();
  if (r.bit()) {
    const [l, rt, t, b] = [r.ue(), r.ue(), r.ue(), r.ue()];
    const ux = chroma === 1 || chroma === 2 ? 2 : 1;
    const uy = chroma === 1 ? 2 : 1;
    width -= ux * (l + rt);
    height -= uy * (t + b);
  }
  const depth = r.ue() + 8;
  return { width, height, pixFmt: pixFmt(separate ? 0 : chroma, depth) };
}

/** SPS NALs stored in an avcC box (MP4 `avc1`, Matroska CodecPrivate), and its NAL length size. */
export function avcCParameterSets(c: Uint8Array): { lengthSize: number; sps: Uint8Array[] } | null {
  if (c.length < 7 || c[0] !== 1) return null;
  const lengthSize = (c[4]! & 3) + 1;
  const n = c[5]! & 0x1f;
  const sps: Uint8Array[] = [];
  let i = 6;
  for (let k = 0; k < n; k++) {
    if (i + 2 > c.length) return null;
    const len = (c[i]! << 8) | c[i + 1]!;
    if (i + 2 + len > c.length) return null;
    sps.push(c.subarray(i + 2, i + 2 + len));
    i += 2 + len;
  }
  return { lengthSize, sps };
}

/** SPS NALs of an hvcC box and its NAL length size. */
export function hvcCParameterSets(c: Uint8Array): { lengthSize: number; sps: Uint8Array[] } | null {
  if (c.length < 23) return null;
  const lengthSize = (c[21]! & 3) + 1;
  const arrays = c[22]!;
  const sps: Uint8Array[] = [];
  let i = 23;
  for (let a = 0; a < arrays; a++) {
    if (i + 3 > c.length) return null;
    const type = c[i]! & 0x3f;
    const n = (c[i + 1]! << 8) | c[i + 2]!;
    i += 3;
    for (let k = 0; k < n; k++) {
      if (i + 2 > c.length) return null;
      const len = (c[i]! << 8) | c[i + 1]!;
      if (i + 2 + len > c.length) return null;
      if (type === HEVC_NAL_SPS) sps.push(c.subarray(i + 2, i + 2 + len));
      i += 2 + len;
    }
  }
  return { lengthSize, sps };
}

/**
 * Parameter sets written as Annex B (start codes) instead of an avcC/hvcC record: Chromium's
 * MediaRecorder does this in WebM CodecPrivate, and its frames are then Annex B too.
 */
export function annexBParameterSets(c: Uint8Array, codec: "h264" | "hevc"): { lengthSize: "annexb"; sps: Uint8Array[] } | null {
  if (!(c.length >= 4 && c[0] === 0 && c[1] === 0 && (c[2] === 1 || (c[2] === 0 && c[3] === 1)))) return null;
  const sps: Uint8Array[] = [];
  for (const nal of annexBNals(c)) {
    if (nal.length === 0) continue;
    const type = codec === "h264" ? nal[0]! & 0x1f : (nal[0]! >> 1) & 0x3f;
    if (type === (codec === "h264" ? 7 : 33)) sps.push(nal);
  }
  return sps.length ? { lengthSize: "annexb", sps } : null;
}
