import { MediaError } from "../media-error.ts";
import { annexBParameterSets, avcCParameterSets, hvcCParameterSets } from "./h264.ts";
import type { ContainerProbe } from "./types.ts";
import { medianStep, VideoScan } from "./video-scan.ts";

/**
 * WebM / Matroska read in process. Master elements we care about are entered rather than
 * skipped, so a live-written file (Segment and Clusters of unknown size, as MediaRecorder writes
 * them) reads the same as a finished one; everything else is skipped by its size.
 */

const ENTER = new Set([0x18538067, 0x1549a966, 0x1654ae6b, 0xae, 0xe0, 0xe1, 0x1f43b675, 0xa0]);
const ID = {
  ebml: 0x1a45dfa3,
  docType: 0x4282,
  timecodeScale: 0x2ad7b1,
  trackEntry: 0xae,
  trackNumber: 0xd7,
  trackType: 0x83,
  codecId: 0x86,
  codecPrivate: 0x63a2,
  pixelWidth: 0xb0,
  pixelHeight: 0xba,
  samplingFrequency: 0xb5,
  channels: 0x9f,
  contentEncodings: 0x6d80,
  clusterTimecode: 0xe7,
  simpleBlock: 0xa3,
  block: 0xa1,
};
const CODECS: Record<string, string> = {
  V_VP8: "vp8",
  V_VP9: "vp9",
  "V_MPEG4/ISO/AVC": "h264",
  "V_MPEGH/ISO/HEVC": "hevc",
  A_OPUS: "opus",
  A_AAC: "aac",
  A_VORBIS: "vorbis",
  "A_MPEG/L3": "mp3",
};

function refuse(reason: string): never {
  throw new MediaError("unprocessable", `WebM: ${reason}`);
}

interface TrackEntry {
  number: number;
  type: number;
  codecId: string;
  priv?: Uint8Array;
  width?: number;
  height?: number;
  rate?: number;
  channels?: number;
  encoded?: boolean;
}

function vint(b: Uint8Array, at: number, keepMarker: boolean): { value: number; len: number; unknown: boolean } {
  const first = b[at];
  if (first === undefined || first === 0) refuse(`bad element header at byte ${at}`);
  const len = Math.clz32(first) - 23;
  if (at + len > b.length) refuse(`element header runs past the end at byte ${at}`);
  let value = keepMarker ? first : first & (0xff >> len);
  let allOnes = value === 0xff >> len;
  for (let i = 1; i < len; i++) {
    value = value * 256 + b[at + i]!;
    if (b[at + i] !== 0xff) allOnes = false;
  }
  return { value, len, unknown: !keepMarker && allOnes };
}

const uint = (d: Uint8Array) => d.reduce((v, x) => v * 256 + x, 0);
function float(d: Uint8Array): number {
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  return d.length === 4 ? dv.getFloat32(0) : d.length === 8 ? dv.getFloat64(0) : NaN;
}

export function probeWebm(b: Uint8Array): ContainerProbe {
  let scale = 1_000_000;
  const tracks: TrackEntry[] = [];
  let cur: TrackEntry | null = null;
  let cluster = 0;
  let docType = "";
  const blocks: { track: number; t: number; data: Uint8Array; laced: boolean }[] = [];

  for (let at = 0; at < b.length; ) {
    // No element starts with a zero byte. Zeros to the end, right after the EBML header, are what
    // Chromium's MediaRecorder writes when stopped before its first frame (110 bytes in all).
    if (b[at] === 0 && b.subarray(at).every((x) => x === 0)) refuse(`no media: the file is ${b.length - at} zero bytes from byte ${at} on (no Segment)`);
    const id = vint(b, at, true);
    const size = vint(b, at + id.len, false);
    const body = at + id.len + size.len;
    if (ENTER.has(id.value)) {
      if (id.value === ID.trackEntry) tracks.push((cur = { number: 0, type: 0, codecId: "" }));
      at = body;
      continue;
    }
    if (size.unknown) refuse(`element 0x${id.value.toString(16)} of unknown size`);
    const end = body + size.value;
    if (end > b.length) refuse(`element 0x${id.value.toString(16)} runs past the end of the file`);
    const d = b.subarray(body, end);
    switch (id.value) {
      case ID.ebml:
        for (let i = 0; i < d.length; ) {
          const cid = vint(d, i, true);
          const cs = vint(d, i + cid.len, false);
          const s = i + cid.len + cs.len;
          if (cid.value === ID.docType) docType = new TextDecoder().decode(d.subarray(s, s + cs.value));
          i = s + cs.value;
        }
        break;
      case ID.timecodeScale:
        scale = uint(d);
        break;
      case ID.trackNumber:
        if (cur) cur.number = uint(d);
        break;
      case ID.trackType:
        if (cur) cur.type = uint(d);
        break;
      case ID.codecId:
        if (cur) cur.codecId = new TextDecoder().decode(d).replace(/\0+$/, "");
        break;
      case ID.codecPrivate:
        if (cur) cur.priv = d;
        break;
      case ID.pixelWidth:
        if (cur) cur.width = uint(d);
        break;
      case ID.pixelHeight:
        if (cur) cur.height = uint(d);
        break;
      case ID.samplingFrequency:
        if (cur) cur.rate = float(d);
        break;
      case ID.channels:
        if (cur) cur.channels = uint(d);
        break;
      case ID.contentEncodings:
        if (cur) cur.encoded = true;
        break;
      case ID.clusterTimecode:
        cluster = uint(d);
        break;
      case ID.simpleBlock:
      case ID.block: {
        const tn = vint(d, 0, false);
        if (d.length < tn.len + 3) refuse("block header is truncated");
        const rel = (((d[tn.len]! << 8) | d[tn.len + 1]!) << 16) >> 16;
        const laced = ((d[tn.len + 2]! >> 1) & 3) !== 0;
        blocks.push({ track: tn.value, t: ((cluster + rel) * scale) / 1e9, data: d.subarray(tn.len + 3), laced });
        break;
      }
    }
    at = end;
  }

  if (docType !== "webm" && docType !== "matroska") refuse(`document type ${JSON.stringify(docType)} is not webm or matroska`);
  if (!(scale > 0)) refuse("timecode scale 0");
  const videos = tracks.filter((t) => t.type === 1);
  if (videos.length > 1) refuse("more than one video track");
  const out: ContainerProbe = { container: "matroska", startSec: null, endSec: null, packets: 0 };
  const v = videos[0];
  const a = tracks.find((t) => t.type === 2);
  let start = Infinity;
  let end = -Infinity;
  if (v) {
    // Compressed frames (header stripping) would hide the headers we check.
    if (v.encoded) refuse("the video track uses content encoding");
    const codec = CODECS[v.codecId] ?? v.codecId;
    const record = v.priv && (codec === "h264" ? avcCParameterSets(v.priv) : codec === "hevc" ? hvcCParameterSets(v.priv) : null);
    const cfg = record || (v.priv && (codec === "h264" || codec === "hevc") ? annexBParameterSets(v.priv, codec) : null);
    // No CodecPrivate at all (Chromium's MediaRecorder writes H.264 in WebM this way): the frames
    // are Annex B and carry their parameter sets in band, where the scan reads every one of them.
    if ((codec === "h264" || codec === "hevc") && !cfg && v.priv) refuse(`${codec} track without a readable codec configuration`);
    const scan = new VideoScan(codec, cfg ? cfg.lengthSize : "annexb");
    for (const sps of cfg ? cfg.sps : []) scan.sps(sps);
    for (const blk of blocks) {
      if (blk.track !== v.number) continue;
      if (blk.laced) refuse("laced video frames");
      scan.frame(blk.data, blk.t);
    }
    const r = scan.result();
    if ((codec === "h264" || codec === "hevc") && !cfg && r.sizes.length === 0) refuse(`${codec} track with no parameter sets, in CodecPrivate or in band`);
    out.video = { codec, width: v.width, height: v.height, scan: r };
    const step = medianStep(r.pts) ?? 1 / 30;
    for (const t of r.pts) {
      start = Math.min(start, t);
      end = Math.max(end, t + step);
    }
    out.packets += r.pts.length;
  }
  if (a) {
    out.audio = { codec: CODECS[a.codecId] ?? a.codecId, sampleRate: a.rate ?? 0, channels: a.channels ?? 0 };
    const ts = blocks.filter((x) => x.track === a.number).map((x) => x.t);
    const step = medianStep(ts) ?? 0;
    for (const t of ts) {
      start = Math.min(start, t);
      end = Math.max(end, t + step);
    }
    out.packets += ts.length;
  }
  if (out.packets) {
    out.startSec = start;
    out.endSec = end;
  }
  return out;
}
