import { MediaError } from "../media-error.ts";
import { avcCParameterSets, hvcCParameterSets } from "./h264.ts";
import type { ContainerProbe } from "./types.ts";
import { medianStep, VideoScan } from "./video-scan.ts";

/**
 * MP4 / QuickTime read in process: the moov's tracks and sample tables, and moof fragments when
 * the file is fragmented (Safari's MediaRecorder). Every video sample is read for its parameter
 * sets, so an in-band SPS cannot hide a picture size.
 */

/** More samples than any chunk of ≤ 30 s has; a table claiming more is an attack on our loop. */
const MAX_SAMPLES = 200_000;

function refuse(reason: string): never {
  throw new MediaError("unprocessable", `MP4: ${reason}`);
}

interface Box {
  type: string;
  start: number;
  /** Payload start (after the header) and end. */
  body: number;
  end: number;
}

function* boxes(b: Uint8Array, from: number, to: number): Generator<Box> {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let at = from;
  while (at + 8 <= to) {
    let size = dv.getUint32(at);
    const type = String.fromCharCode(b[at + 4]!, b[at + 5]!, b[at + 6]!, b[at + 7]!);
    let body = at + 8;
    if (size === 1) {
      if (at + 16 > to) refuse(`box ${JSON.stringify(type)} is truncated`);
      size = Number(dv.getBigUint64(at + 8));
      body = at + 16;
    } else if (size === 0) {
      size = to - at;
    }
    if (size < body - at || at + size > to) refuse(`box ${JSON.stringify(type)} claims ${size} bytes, more than its parent holds`);
    yield { type, start: at, body, end: at + size };
    at += size;
  }
  if (at !== to && to - at >= 1 && from < to) refuse("trailing bytes after the last box");
}

function child(b: Uint8Array, parent: Box, type: string): Box | undefined {
  for (const x of boxes(b, parent.body, parent.end)) if (x.type === type) return x;
  return undefined;
}

interface Sample {
  offset: number;
  size: number;
  dts: number;
  pts: number;
  dur: number;
}

interface Track {
  id: number;
  handler: string;
  timescale: number;
  codec: string;
  entry?: string;
  width?: number;
  height?: number;
  rotation?: number;
  sampleRate?: number;
  channels?: number;
  config?: { lengthSize: number; sps: Uint8Array[] };
  samples: Sample[];
  trex?: { dur: number; size: number };
  /** Edit list's start in media time: samples before it are never shown (B-frame delay, AAC priming). */
  shift: number;
}

const VIDEO_ENTRIES: Record<string, string> = { avc1: "h264", avc3: "h264", hvc1: "hevc", hev1: "hevc", vp08: "vp8", vp09: "vp9" };
const AUDIO_ENTRIES: Record<string, string> = { Opus: "opus", ".mp3": "mp3" };

export function probeMp4(b: Uint8Array): ContainerProbe {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u32 = (i: number) => (i + 4 <= b.length ? dv.getUint32(i) : refuse("box is truncated"));
  const tracks = new Map<number, Track>();
  let sawMoov = false;
  const top = [...boxes(b, 0, b.length)];
  for (const box of top) {
    if (box.type === "moov") {
      if (sawMoov) refuse("two moov boxes");
      sawMoov = true;
      for (const t of boxes(b, box.body, box.end)) if (t.type === "trak") readTrak(t);
      const mvex = child(b, box, "mvex");
      if (mvex)
        for (const x of boxes(b, mvex.body, mvex.end))
          if (x.type === "trex") {
            const tr = tracks.get(u32(x.body + 4));
            if (tr) tr.trex = { dur: u32(x.body + 12), size: u32(x.body + 16) };
          }
    } else if (box.type === "moof") {
      if (!sawMoov) refuse("a fragment before the moov");
      for (const traf of boxes(b, box.body, box.end)) if (traf.type === "traf") readTraf(traf, box.start);
    }
  }
  if (!sawMoov) refuse("no moov box");

  function readTrak(trak: Box): void {
    const tkhd = child(b, trak, "tkhd");
    const mdia = child(b, trak, "mdia");
    if (!tkhd || !mdia) refuse("a track without tkhd or mdia");
    const v1 = b[tkhd.body] === 1;
    const id = u32(tkhd.body + (v1 ? 20 : 12));
    const matrix = tkhd.body + (v1 ? 52 : 40);
    const a = dv.getInt32(matrix);
    const bb = dv.getInt32(matrix + 4);
    const deg = Math.round((Math.atan2(bb, a) * 180) / Math.PI);
    const mdhd = child(b, mdia, "mdhd");
    const hdlr = child(b, mdia, "hdlr");
    if (!mdhd || !hdlr) refuse("a track without mdhd or hdlr");
    const timescale = u32(mdhd.body + (b[mdhd.body] === 1 ? 20 : 12));
    if (!timescale) refuse("a track with time scale 0");
    const handler = String.fromCharCode(...b.subarray(hdlr.body + 8, hdlr.body + 12));
    const tr: Track = { id, handler, timescale, codec: "unknown", samples: [], shift: editStart(child(b, trak, "edts")) };
    if (deg !== 0) tr.rotation = ((deg % 360) + 360) % 360;
    const stbl = ((): Box | undefined => {
      const minf = child(b, mdia, "minf");
      return minf && child(b, minf, "stbl");
    })();
    if (!stbl) refuse("a track without a sample table");
    readStsd(tr, child(b, stbl, "stsd"));
    readSampleTable(tr, stbl);
    if (tracks.has(id)) refuse(`two tracks with id ${id}`);
    tracks.set(id, tr);
  }

  function editStart(edts: Box | undefined): number {
    const elst = edts && child(b, edts, "elst");
    if (!elst) return 0;
    const v1 = b[elst.body] === 1;
    const n = u32(elst.body + 4);
    for (let i = 0, at = elst.body + 8; i < n && i < 16; i++, at += v1 ? 20 : 12) {
      const t = v1 ? Number(dv.getBigInt64(at + 8)) : dv.getInt32(at + 4);
      if (t >= 0) return t; // -1 is an empty edit (a delay), not a start
    }
    return 0;
  }

  function readStsd(tr: Track, stsd: Box | undefined): void {
    if (!stsd) refuse("a track without sample descriptions");
    if (u32(stsd.body + 4) !== 1) refuse("a track with more than one sample description");
    const [entry] = boxes(b, stsd.body + 8, stsd.end);
    if (!entry) refuse("empty sample description");
    tr.entry = entry.type;
    if (tr.handler === "vide") {
      tr.codec = VIDEO_ENTRIES[entry.type] ?? entry.type;
      tr.width = (b[entry.body + 24]! << 8) | b[entry.body + 25]!;
      tr.height = (b[entry.body + 26]! << 8) | b[entry.body + 27]!;
      const inner = entry.body + 78;
      if (inner > entry.end) refuse("video sample description is truncated");
      for (const x of boxes(b, inner, entry.end)) {
        if (x.type === "avcC") tr.config = avcCParameterSets(b.subarray(x.body, x.end)) ?? refuse("malformed avcC");
        if (x.type === "hvcC") tr.config = hvcCParameterSets(b.subarray(x.body, x.end)) ?? refuse("malformed hvcC");
      }
    } else if (tr.handler === "soun") {
      tr.channels = (b[entry.body + 16]! << 8) | b[entry.body + 17]!;
      tr.sampleRate = u32(entry.body + 24) >>> 16;
      tr.codec = AUDIO_ENTRIES[entry.type] ?? entry.type;
      if (entry.type === "mp4a") {
        const esds = entry.body + 28 <= entry.end ? [...boxes(b, entry.body + 28, entry.end)].find((x) => x.type === "esds") : undefined;
        const oti = esds ? objectType(b.subarray(esds.body + 4, esds.end)) : null;
        tr.codec = oti === 0x40 || oti === 0x66 || oti === 0x67 || oti === 0x68 ? "aac" : oti === 0x69 || oti === 0x6b ? "mp3" : "mp4a";
      }
    }
  }

  function readSampleTable(tr: Track, stbl: Box): void {
    const get = (t: string) => child(b, stbl, t);
    const stsz = get("stsz");
    const stts = get("stts");
    const stsc = get("stsc");
    const stco = get("stco") ?? get("co64");
    if (!stsz || !stts || !stsc || !stco) return; // a fragmented file keeps its samples in moofs
    const fixed = u32(stsz.body + 4);
    const n = u32(stsz.body + 8);
    if (n > MAX_SAMPLES) refuse(`a track claims ${n} samples`);
    if (n === 0) return;
    const sizes = Array.from({ length: n }, (_, i) => (fixed ? fixed : u32(stsz.body + 12 + 4 * i)));
    const durs: number[] = [];
    for (let e = 0, k = u32(stts.body + 4); e < k && durs.length < n; e++) {
      const count = u32(stts.body + 8 + 8 * e);
      const d = u32(stts.body + 12 + 8 * e);
      for (let i = 0; i < count && durs.length < n; i++) durs.push(d);
    }
    const ctts = get("ctts");
    const offsets: number[] = [];
    if (ctts)
      for (let e = 0, k = u32(ctts.body + 4); e < k && offsets.length < n; e++) {
        const count = u32(ctts.body + 8 + 8 * e);
        const o = dv.getInt32(ctts.body + 12 + 8 * e);
        for (let i = 0; i < count && offsets.length < n; i++) offsets.push(o);
      }
    const big = stco.type === "co64";
    const chunks = u32(stco.body + 4);
    const chunkOffset = (c: number) => (big ? Number(dv.getBigUint64(stco.body + 8 + 8 * c)) : u32(stco.body + 8 + 4 * c));
    const runs = u32(stsc.body + 4);
    let s = 0;
    let dts = 0;
    for (let r = 0; r < runs && s < n; r++) {
      const first = u32(stsc.body + 8 + 12 * r) - 1;
      const per = u32(stsc.body + 12 + 12 * r);
      const last = r + 1 < runs ? u32(stsc.body + 8 + 12 * (r + 1)) - 1 : chunks;
      if (last > chunks || first >= last || per === 0) refuse("inconsistent sample-to-chunk table");
      for (let c = first; c < last && s < n; c++) {
        let off = chunkOffset(c);
        for (let i = 0; i < per && s < n; i++, s++) {
          const dur = durs[s] ?? 0;
          tr.samples.push({ offset: off, size: sizes[s]!, dts, pts: dts + (offsets[s] ?? 0), dur });
          off += sizes[s]!;
          dts += dur;
        }
      }
    }
    if (s < n) refuse("sample table lists fewer chunks than samples");
  }

  function readTraf(traf: Box, moofStart: number): void {
    const tfhd = child(b, traf, "tfhd");
    if (!tfhd) refuse("a fragment without tfhd");
    const flags = u32(tfhd.body) & 0xffffff;
    const tr = tracks.get(u32(tfhd.body + 4)) ?? refuse("a fragment for a track the moov does not declare");
    let at = tfhd.body + 8;
    let base = moofStart;
    if (flags & 0x1) {
      base = Number(dv.getBigUint64(at));
      at += 8;
    }
    if (flags & 0x2) at += 4;
    let defDur = tr.trex?.dur ?? 0;
    let defSize = tr.trex?.size ?? 0;
    if (flags & 0x8) (defDur = u32(at)), (at += 4);
    if (flags & 0x10) (defSize = u32(at)), (at += 4);
    const tfdt = child(b, traf, "tfdt");
    let dts = tfdt
      ? b[tfdt.body] === 1
        ? Number(dv.getBigUint64(tfdt.body + 4))
        : u32(tfdt.body + 4)
      : tr.samples.at(-1)
        ? tr.samples.at(-1)!.dts + tr.samples.at(-1)!.dur
        : 0;
    for (const trun of boxes(b, traf.body, traf.end)) {
      if (trun.type !== "trun") continue;
      const tf = u32(trun.body) & 0xffffff;
      const n = u32(trun.body + 4);
      if (tr.samples.length + n > MAX_SAMPLES) refuse(`a track claims more than ${MAX_SAMPLES} samples`);
      let p = trun.body + 8;
      let off = base;
      if (tf & 0x1) (off = base + dv.getInt32(p)), (p += 4);
      if (tf & 0x4) p += 4;
      for (let i = 0; i < n; i++) {
        let dur = defDur;
        let size = defSize;
        let cto = 0;
        if (tf & 0x100) (dur = u32(p)), (p += 4);
        if (tf & 0x200) (size = u32(p)), (p += 4);
        if (tf & 0x400) p += 4;
        if (tf & 0x800) (cto = dv.getInt32(p)), (p += 4);
        if (p > trun.end) refuse("trun is truncated");
        tr.samples.push({ offset: off, size, dts, pts: dts + cto, dur });
        off += size;
        dts += dur;
      }
    }
  }

  const all = [...tracks.values()];
  const videos = all.filter((t) => t.handler === "vide");
  if (videos.length > 1) refuse("more than one video track");
  const out: ContainerProbe = { container: "mp4", startSec: null, endSec: null, packets: 0 };
  let start = Infinity;
  let end = -Infinity;
  const v = videos[0];
  if (v) {
    const framing = v.config?.lengthSize ?? 4;
    const scan = new VideoScan(v.codec, framing);
    for (const sps of v.config?.sps ?? []) scan.sps(sps);
    for (const s of v.samples) scan.frame(sampleBytes(b, s), (s.pts - v.shift) / v.timescale);
    const r = scan.result();
    out.video = { codec: v.codec, width: v.width, height: v.height, rotation: v.rotation, scan: r };
  }
  const a = all.find((t) => t.handler === "soun");
  if (a) out.audio = { codec: a.codec, sampleRate: a.sampleRate ?? 0, channels: a.channels ?? 0 };
  for (const t of [v, a]) {
    if (!t) continue;
    const step = t === v ? medianStep(t.samples.map((s) => s.pts)) : null;
    for (const s of t.samples) {
      out.packets++;
      const from = (s.pts - t.shift) / t.timescale;
      const to = (s.pts - t.shift + (s.dur || (step ?? 0))) / t.timescale;
      if (to <= 0 && t.shift > 0) continue; // edited out: never presented
      start = Math.min(start, Math.max(0, from));
      end = Math.max(end, to);
    }
  }
  if (out.packets) {
    out.startSec = start;
    out.endSec = end;
  }
  return out;
}

function sampleBytes(b: Uint8Array, s: Sample): Uint8Array {
  if (s.offset < 0 || s.offset + s.size > b.length) refuse("a sample lies outside the file");
  return b.subarray(s.offset, s.offset + s.size);
}

/** objectTypeIndication from an ES descriptor (ISO 14496-1), or null. */
function objectType(d: Uint8Array): number | null {
  let i = 0;
  const len = () => {
    let n = 0;
    for (let k = 0; k < 4; k++) {
      const x = d[i++];
      if (x === undefined) return -1;
      n = (n << 7) | (x & 0x7f);
      if (!(x & 0x80)) break;
    }
    return n;
  };
  if (d[i++] !== 0x03 || len() < 0) return null;
  const flags = d[i + 2] ?? 0;
  i += 3;
  if (flags & 0x80) i += 2;
  if (flags & 0x40) i += 1 + (d[i] ?? 0);
  if (flags & 0x20) i += 2;
  if (d[i++] !== 0x04 || len() < 0) return null;
  return d[i] ?? null;
}
