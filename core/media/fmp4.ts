/**
 * A reader and validator of fragmented MP4 (ISO BMFF / CMAF) written for hostile input: the API
 * node checks every CMAF upload with it in process instead of spawning ffprobe.
 *
 * - Only the boxes we need are entered; everything else is stepped over by its size, so a box is
 *   looked at once and work is linear in the input. Box count and depth are bounded anyway.
 * - Every size is checked against its parent before anything inside it is read; 64-bit
 *   largesize is understood; size 0 ("to the end") only for a final top-level mdat.
 * - Errors are values: `{ ok: false, fault, detail }`. The fault says which class of problem it is
 *   so the service can choose the status (see FAULT_CLASS), the detail says where, in bytes.
 */

/**
 * One track of an init segment's moov, as the reader finds it (stored by CMAF ingest in
 * stream_inits.tracks; core/streams/cmaf.model.ts re-exports it).
 */
export interface CmafTrack {
  id: number;
  kind: "video" | "audio";
  /** mdhd timescale: decode times and durations of this track are in these units per second. */
  timescale: number;
  /** Sample entry fourcc (avc1, avc3, hvc1, Opus, mp4a …). */
  codec: string;
}

/** What was wrong, by class. */
export type Fault =
  /** A box claims more bytes than its parent (or the body) has. */
  | "truncated"
  /** A box size that cannot be (below its header, 0 where not allowed, past 2^53). */
  | "bad_size"
  /** Fields inside a box that contradict themselves or the format. */
  | "malformed"
  /** A box the format requires is absent (ftyp, moov, mvex, trex, mfhd, tfhd, tfdt, mdat after moof). */
  | "missing_box"
  /** A box where it must not be (mdat in an init, samples in an init's stbl, an unknown top-level box). */
  | "unexpected_box"
  /** More boxes, or deeper, than any real init or fragment has: refused before it costs us. */
  | "too_complex"
  /** trun's data offset or sample sizes point outside the mdat that follows the moof. */
  | "data_outside_mdat"
  /** Valid boxes we do not take: a track that is neither video nor audio, base_data_offset. */
  | "unsupported"
  /** A traf names a track the init does not have. */
  | "unknown_track"
  /** mfhd sequence numbers not increasing within one upload. */
  | "sequence"
  /** Decode time not continuous between fragments (backwards, or a hole). */
  | "decode_time";

/**
 * How the service answers each class: the bytes are not a well-formed fragmented MP4 → 400;
 * well-formed but not something we take → 415; well-formed but breaking the stream's rules
 * (tracks of the init, sequence, continuous time) → 422.
 */
export const FAULT_CLASS: Record<Fault, "malformed" | "unsupported" | "rule"> = {
  truncated: "malformed",
  bad_size: "malformed",
  malformed: "malformed",
  missing_box: "malformed",
  unexpected_box: "malformed",
  too_complex: "malformed",
  data_outside_mdat: "malformed",
  unsupported: "unsupported",
  unknown_track: "rule",
  sequence: "rule",
  decode_time: "rule",
};

export interface Failure {
  ok: false;
  fault: Fault;
  detail: string;
}

/** trex: the defaults a fragment's samples fall back on. */
export interface TrackDefaults {
  duration: number;
  size: number;
  flags: number;
}

/** A track of the init with what fragments need from it (stored as stream_inits.tracks). */
export interface InitTrack extends CmafTrack {
  defaults: TrackDefaults;
}

export interface InitInfo {
  ok: true;
  tracks: InitTrack[];
}

/** One track's share of an upload (one or more moof+mdat). Times in the track's timescale. */
export interface TrackRun {
  id: number;
  /** tfdt of the track's first fragment in the upload. */
  baseDecodeTime: number;
  /** Sum of the sample durations. */
  duration: number;
  sampleCount: number;
  firstSampleIsKey: boolean;
  /** Decode time of the first / last sync sample, null when the upload has none for this track. */
  firstKeyTime: number | null;
  lastKeyTime: number | null;
}

export interface FragmentsInfo {
  ok: true;
  tracks: TrackRun[];
  /** moof+mdat pairs in the upload. */
  fragments: number;
}

/** Far more than any init or a 2-s upload carries (a fragment is about 10 boxes). */
export const MAX_BOXES = 10_000;
export const MAX_DEPTH = 8;
/** Timelines past 2^53 ticks cannot be added up exactly in a JS number. */
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function fourcc(s: string): number {
  return ((s.charCodeAt(0) << 24) | (s.charCodeAt(1) << 16) | (s.charCodeAt(2) << 8) | s.charCodeAt(3)) >>> 0;
}
function name(code: number): string {
  const cs = [code >>> 24, (code >>> 16) & 255, (code >>> 8) & 255, code & 255];
  return cs.every((c) => c >= 0x20 && c < 0x7f) ? String.fromCharCode(...cs) : `0x${code.toString(16).padStart(8, "0")}`;
}

const T = {
  ftyp: fourcc("ftyp"),
  styp: fourcc("styp"),
  moov: fourcc("moov"),
  mvex: fourcc("mvex"),
  trex: fourcc("trex"),
  trak: fourcc("trak"),
  tkhd: fourcc("tkhd"),
  mdia: fourcc("mdia"),
  mdhd: fourcc("mdhd"),
  hdlr: fourcc("hdlr"),
  minf: fourcc("minf"),
  stbl: fourcc("stbl"),
  stsd: fourcc("stsd"),
  stts: fourcc("stts"),
  stsz: fourcc("stsz"),
  stz2: fourcc("stz2"),
  stco: fourcc("stco"),
  co64: fourcc("co64"),
  stsc: fourcc("stsc"),
  stss: fourcc("stss"),
  moof: fourcc("moof"),
  mfhd: fourcc("mfhd"),
  traf: fourcc("traf"),
  tfhd: fourcc("tfhd"),
  tfdt: fourcc("tfdt"),
  trun: fourcc("trun"),
  mdat: fourcc("mdat"),
  free: fourcc("free"),
  skip: fourcc("skip"),
  sidx: fourcc("sidx"),
  prft: fourcc("prft"),
  emsg: fourcc("emsg"),
  uuid: fourcc("uuid"),
  ssix: fourcc("ssix"),
  vide: fourcc("vide"),
  soun: fourcc("soun"),
};

/** Top-level boxes a fragment upload may carry besides moof and mdat. */
const FRAGMENT_EXTRAS = new Set([T.styp, T.sidx, T.ssix, T.prft, T.emsg, T.free, T.skip, T.uuid]);
/** Sample tables of an init: each must say zero entries. */
const SAMPLE_TABLES = new Set([T.stts, T.stsz, T.stz2, T.stco, T.co64, T.stsc, T.stss]);

interface Box {
  type: number;
  start: number;
  /** First byte after the header (and after the full-box version/flags, for none: callers add 4). */
  body: number;
  end: number;
}

class Reader {
  readonly dv: DataView;
  boxes = 0;
  fail: Failure | null = null;
  constructor(readonly bytes: Uint8Array) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u8(p: number) {
    return this.dv.getUint8(p);
  }
  u32(p: number) {
    return this.dv.getUint32(p);
  }
  u64(p: number): number | null {
    const v = this.dv.getUint32(p) * 2 ** 32 + this.dv.getUint32(p + 4);
    return v > MAX_SAFE ? null : v;
  }
  fault(fault: Fault, detail: string): null {
    if (!this.fail) this.fail = { ok: false, fault, detail };
    return null;
  }
  /** Needs `n` bytes from p inside a box ending at `end`. */
  need(box: Box, p: number, n: number): boolean {
    if (p + n <= box.end) return true;
    this.fault("truncated", `${name(box.type)} at ${box.start} is ${box.end - box.start} bytes, too short for its fields`);
    return false;
  }
  /** The box header at p, inside [p, end). `zeroToEnd`: size 0 allowed (extends to end). */
  box(p: number, end: number, depth: number, zeroToEnd = false): Box | null {
    if (++this.boxes > MAX_BOXES) return this.fault("too_complex", `more than ${MAX_BOXES} boxes`);
    if (depth > MAX_DEPTH) return this.fault("too_complex", `boxes nested deeper than ${MAX_DEPTH}`);
    const remain = end - p;
    if (remain < 8) return this.fault("truncated", `box header at ${p} needs 8 bytes, ${remain} remain`);
    const size32 = this.u32(p);
    const type = this.u32(p + 4);
    let size = size32;
    let header = 8;
    if (size32 === 1) {
      if (remain < 16) return this.fault("truncated", `${name(type)} at ${p} has a 64-bit size but only ${remain} bytes remain`);
      const big = this.u64(p + 8);
      if (big === null) return this.fault("bad_size", `${name(type)} at ${p} claims a 64-bit size past 2^53`);
      size = big;
      header = 16;
    } else if (size32 === 0) {
      if (!zeroToEnd || type !== T.mdat) return this.fault("bad_size", `${name(type)} at ${p} has size 0 (to the end), allowed only for a final mdat`);
      size = remain;
    }
    if (size < header) return this.fault("bad_size", `${name(type)} at ${p} claims ${size} bytes, less than its ${header}-byte header`);
    if (size > remain) return this.fault("truncated", `${name(type)} at ${p} claims ${size} bytes, ${remain} remain`);
    if (type === T.uuid) header += 16;
    if (header > size) return this.fault("bad_size", `uuid box at ${p} is shorter than its extended type`);
    return { type, start: p, body: p + header, end: p + size };
  }
  /** Calls visit for each child box of [from, to); stops at the first fault. */
  children(from: number, to: number, depth: number, visit: (b: Box) => boolean, mdatToEnd = false): boolean {
    for (let p = from; p < to; ) {
      const b = this.box(p, to, depth, mdatToEnd);
      if (!b || !visit(b) || this.fail) return false;
      p = b.end;
    }
    return !this.fail;
  }
}

/**
 * The init segment: ftyp, then moov with mvex (a trex per track), no samples, no media data.
 * Each track's id (tkhd), timescale (mdhd), kind (hdlr vide/soun) and codec (first sample entry of stsd).
 */
export function parseInit(bytes: Uint8Array): InitInfo | Failure {
  const r = new Reader(bytes);
  let sawFtyp = false;
  let moov: Box | null = null;
  let first = true;
  const ok = r.children(0, bytes.length, 0, (b) => {
    if (first && b.type !== T.ftyp) return !!r.fault("missing_box", `an init segment starts with ftyp, not ${name(b.type)}`);
    first = false;
    if (b.type === T.ftyp) sawFtyp = true;
    else if (b.type === T.moov) {
      if (moov) return !!r.fault("unexpected_box", `a second moov at ${b.start}`);
      moov = b;
    } else if (b.type === T.moof || b.type === T.mdat) return !!r.fault("unexpected_box", `${name(b.type)} at ${b.start}: an init segment carries no media`);
    else if (b.type !== T.free && b.type !== T.skip && b.type !== T.uuid)
      return !!r.fault("unexpected_box", `${name(b.type)} at ${b.start} does not belong in an init segment`);
    return true;
  });
  if (!ok) return r.fail ?? { ok: false, fault: "missing_box", detail: "the body is empty" };
  if (!sawFtyp) return { ok: false, fault: "missing_box", detail: "no ftyp" };
  if (!moov) return { ok: false, fault: "missing_box", detail: "no moov" };
  const m: Box = moov;

  const traks: Box[] = [];
  let mvex: Box | null = null;
  if (!r.children(m.body, m.end, 1, (b) => (b.type === T.trak ? traks.push(b) > 0 : b.type === T.mvex ? !!(mvex = b) : true))) return r.fail!;
  if (!mvex) return { ok: false, fault: "missing_box", detail: "moov has no mvex: not a fragmented MP4 init" };
  if (traks.length === 0) return { ok: false, fault: "missing_box", detail: "moov has no trak" };

  const defaults = new Map<number, TrackDefaults>();
  const mv: Box = mvex;
  if (
    !r.children(mv.body, mv.end, 2, (b) => {
      if (b.type !== T.trex) return true;
      if (!r.need(b, b.body, 24)) return false;
      defaults.set(r.u32(b.body + 4), { duration: r.u32(b.body + 12), size: r.u32(b.body + 16), flags: r.u32(b.body + 20) });
      return true;
    })
  )
    return r.fail!;

  const tracks: InitTrack[] = [];
  for (const trak of traks) {
    const t = parseTrak(r, trak);
    if (!t) return r.fail!;
    if (tracks.some((x) => x.id === t.id)) return { ok: false, fault: "malformed", detail: `two traks with track id ${t.id}` };
    const d = defaults.get(t.id);
    if (!d) return { ok: false, fault: "missing_box", detail: `mvex has no trex for track ${t.id}` };
    tracks.push({ ...t, defaults: d });
  }
  return { ok: true, tracks };
}

function parseTrak(r: Reader, trak: Box): CmafTrack | null {
  let id: number | null = null;
  let timescale: number | null = null;
  let kind: "video" | "audio" | null = null;
  let codec: string | null = null;
  let handler = 0;
  const walk = (b: Box, depth: number): boolean => {
    switch (b.type) {
      case T.tkhd: {
        if (!r.need(b, b.body, 4)) return false;
        const at = b.body + 4 + (r.u8(b.body) === 1 ? 16 : 8);
        if (!r.need(b, at, 4)) return false;
        id = r.u32(at);
        return true;
      }
      case T.mdhd: {
        if (!r.need(b, b.body, 4)) return false;
        const at = b.body + 4 + (r.u8(b.body) === 1 ? 16 : 8);
        if (!r.need(b, at, 4)) return false;
        timescale = r.u32(at);
        return true;
      }
      case T.hdlr:
        if (!r.need(b, b.body, 12)) return false;
        handler = r.u32(b.body + 8);
        kind = handler === T.vide ? "video" : handler === T.soun ? "audio" : null;
        return true;
      case T.stsd: {
        if (!r.need(b, b.body, 8)) return false;
        if (r.u32(b.body + 4) < 1) return !!r.fault("malformed", `stsd at ${b.start} has no sample entry`);
        const entry = r.box(b.body + 8, b.end, depth + 1);
        if (!entry) return false;
        codec = name(entry.type);
        return true;
      }
      case T.mdia:
      case T.minf:
      case T.stbl:
        return r.children(b.body, b.end, depth + 1, (c) => walk(c, depth + 1));
      default:
        if (SAMPLE_TABLES.has(b.type)) {
          // Every sample table starts (after version/flags) with its entry count, stsz/stz2 after one more field.
          const at = b.body + (b.type === T.stsz || b.type === T.stz2 ? 8 : 4);
          if (!r.need(b, at, 4)) return false;
          if (r.u32(at) !== 0) return !!r.fault("unexpected_box", `${name(b.type)} at ${b.start} lists samples; an init segment carries none`);
        }
        return true;
    }
  };
  if (!r.children(trak.body, trak.end, 2, (b) => walk(b, 2))) return null;
  if (id === null || id === 0) return r.fault("missing_box", `trak at ${trak.start} has no tkhd track id`);
  if (!timescale) return r.fault("missing_box", `track ${id} has no mdhd timescale`);
  if (!codec) return r.fault("missing_box", `track ${id} has no stsd sample entry`);
  if (!kind) return r.fault("unsupported", `track ${id} is ${handler ? `'${name(handler)}'` : "without a handler"}; only video and audio tracks are taken`);
  return { id, kind, timescale, codec };
}

/** A sync sample that needs no other: not sample_is_non_sync_sample and not sample_depends_on = 1. */
export function isKeyFlags(flags: number): boolean {
  return (flags & 0x10000) === 0 && ((flags >>> 24) & 3) !== 1;
}

/** Largest hole or overlap between fragments counted as continuous: 1 ms, for muxers rounding µs to ticks. */
export function continuityTolerance(timescale: number): number {
  return Math.max(1, Math.ceil(timescale / 1000));
}

interface RunState extends TrackRun {
  /** Decode time where the track's next fragment must start. */
  next: number;
}

/**
 * One or more (styp/sidx/prft/emsg…) moof + mdat pairs, checked against the init's tracks: sizes,
 * mfhd sequence increasing, every traf's track known, trun data inside the mdat after the moof,
 * decode time continuous between fragments. Per track: first decode time, total duration,
 * sample count, key frames.
 */
export function parseFragments(bytes: Uint8Array, init: { tracks: readonly InitTrack[] }): FragmentsInfo | Failure {
  const r = new Reader(bytes);
  const byId = new Map(init.tracks.map((t) => [t.id, t]));
  const runs = new Map<number, RunState>();
  let pendingMoof: Box | null = null;
  let lastSeq = -1;
  let fragments = 0;
  let sawMedia = false;
  const ok = r.children(
    0,
    bytes.length,
    0,
    (b) => {
      if (pendingMoof && b.type !== T.mdat) return !!r.fault("missing_box", `moof at ${pendingMoof.start} is followed by ${name(b.type)}, not mdat`);
      if (b.type === T.moof) {
        pendingMoof = b;
        return true;
      }
      if (b.type === T.mdat) {
        if (!pendingMoof) return !!r.fault("unexpected_box", `mdat at ${b.start} follows no moof`);
        const moof: Box = pendingMoof;
        pendingMoof = null;
        fragments++;
        const seq = readFragment(r, moof, b, byId, runs);
        if (seq === null) return false;
        if (seq <= lastSeq) return !!r.fault("sequence", `mfhd sequence ${seq} at ${moof.start} does not follow ${lastSeq}`);
        lastSeq = seq;
        sawMedia = true;
        return true;
      }
      if (!FRAGMENT_EXTRAS.has(b.type)) return !!r.fault("unexpected_box", `${name(b.type)} at ${b.start} does not belong in a media segment`);
      return true;
    },
    true,
  );
  if (!ok && r.fail) return r.fail;
  if (pendingMoof) return { ok: false, fault: "missing_box", detail: `moof at ${(pendingMoof as Box).start} has no mdat after it` };
  if (!sawMedia) return { ok: false, fault: "missing_box", detail: "no moof + mdat" };
  return { ok: true, fragments, tracks: [...runs.values()].map(({ next: _, ...t }) => t) };
}

/** Reads one moof against the mdat after it; returns the mfhd sequence number. */
function readFragment(r: Reader, moof: Box, mdat: Box, byId: Map<number, InitTrack>, runs: Map<number, RunState>): number | null {
  let seq: number | null = null;
  let prevDataEnd = moof.start;
  let trafs = 0;
  const ok = r.children(moof.body, moof.end, 1, (b) => {
    if (b.type === T.mfhd) {
      if (!r.need(b, b.body, 8)) return false;
      seq = r.u32(b.body + 4);
      return true;
    }
    if (b.type !== T.traf) return true;
    trafs++;
    const end = readTraf(r, b, moof, mdat, prevDataEnd, trafs === 1, byId, runs);
    if (end === null) return false;
    prevDataEnd = end;
    return true;
  });
  if (!ok) return null;
  if (seq === null) return r.fault("missing_box", `moof at ${moof.start} has no mfhd`);
  if (trafs === 0) return r.fault("missing_box", `moof at ${moof.start} has no traf`);
  return seq;
}

/** Returns where this traf's sample data ends (the implicit base of the next traf). */
function readTraf(
  r: Reader,
  traf: Box,
  moof: Box,
  mdat: Box,
  prevDataEnd: number,
  firstTraf: boolean,
  byId: Map<number, InitTrack>,
  runs: Map<number, RunState>,
): number | null {
  let tfhd: Box | null = null;
  let tfdt: number | null = null;
  const truns: Box[] = [];
  const ok = r.children(traf.body, traf.end, 2, (b) => {
    if (b.type === T.tfhd) tfhd = b;
    else if (b.type === T.tfdt) {
      if (!r.need(b, b.body, 4)) return false;
      const v1 = r.u8(b.body) === 1;
      if (!r.need(b, b.body + 4, v1 ? 8 : 4)) return false;
      tfdt = v1 ? r.u64(b.body + 4) : r.u32(b.body + 4);
      if (tfdt === null) return !!r.fault("bad_size", `tfdt at ${b.start} is past 2^53`);
    } else if (b.type === T.trun) truns.push(b);
    return true;
  });
  if (!ok) return null;
  if (!tfhd) return r.fault("missing_box", `traf at ${traf.start} has no tfhd`);
  const h: Box = tfhd;
  if (!r.need(h, h.body, 8)) return null;
  const hf = r.u32(h.body) & 0xffffff;
  const trackId = r.u32(h.body + 4);
  const track = byId.get(trackId);
  if (!track) return r.fault("unknown_track", `traf at ${traf.start} is for track ${trackId}; the init has ${[...byId.keys()].join(", ")}`);
  if (hf & 0x1) return r.fault("unsupported", `tfhd at ${h.start} sets base_data_offset; CMAF fragments address data from the moof`);
  if (tfdt === null) return r.fault("missing_box", `traf at ${traf.start} has no tfdt`);
  let p = h.body + 8;
  if (hf & 0x2) p += 4;
  const field = (flag: number, fallback: number): number | null => {
    if (!(hf & flag)) return fallback;
    if (!r.need(h, p, 4)) return null;
    const v = r.u32(p);
    p += 4;
    return v;
  };
  const defDuration = field(0x8, track.defaults.duration);
  const defSize = field(0x10, track.defaults.size);
  const defFlags = field(0x20, track.defaults.flags);
  if (defDuration === null || defSize === null || defFlags === null) return null;

  let run = runs.get(trackId);
  if (run) {
    const tol = continuityTolerance(track.timescale);
    if (Math.abs(tfdt - run.next) > tol)
      return r.fault("decode_time", `track ${trackId}: fragment at ${moof.start} starts at decode time ${tfdt}, the previous one ended at ${run.next}`);
  } else {
    run = { id: trackId, baseDecodeTime: tfdt, duration: 0, sampleCount: 0, firstSampleIsKey: false, firstKeyTime: null, lastKeyTime: null, next: tfdt };
    runs.set(trackId, run);
  }
  let time: number = tfdt;
  const base = hf & 0x20000 || firstTraf ? moof.start : prevDataEnd;
  let dataPos = base;
  const mdatData = mdat.body;
  for (const t of truns) {
    if (!r.need(t, t.body, 8)) return null;
    const tf = r.u32(t.body) & 0xffffff;
    const count = r.u32(t.body + 4);
    let q = t.body + 8;
    if (tf & 0x1) {
      if (!r.need(t, q, 4)) return null;
      dataPos = base + r.dv.getInt32(q);
      q += 4;
    }
    let firstFlags: number | null = null;
    if (tf & 0x4) {
      if (!r.need(t, q, 4)) return null;
      firstFlags = r.u32(q);
      q += 4;
    }
    const hasDur = tf & 0x100,
      hasSize = tf & 0x200,
      hasFlags = tf & 0x400,
      hasCto = tf & 0x800;
    const entry = 4 * ((hasDur ? 1 : 0) + (hasSize ? 1 : 0) + (hasFlags ? 1 : 0) + (hasCto ? 1 : 0));
    // The count is checked against the box before any entry is read: a lying count costs nothing.
    if (entry > 0 && count > (t.end - q) / entry)
      return r.fault("truncated", `trun at ${t.start} claims ${count} samples, its ${t.end - t.start} bytes hold ${Math.floor((t.end - q) / entry)}`);
    if (entry === 0 && count > 1_000_000) return r.fault("malformed", `trun at ${t.start} claims ${count} samples`);
    if (dataPos < mdatData || dataPos > mdat.end)
      return r.fault("data_outside_mdat", `trun at ${t.start}: sample data starts at ${dataPos}, the mdat's data is ${mdatData}..${mdat.end}`);
    for (let i = 0; i < count; i++) {
      const dur = hasDur ? r.u32(q) : defDuration;
      if (hasDur) q += 4;
      const size = hasSize ? r.u32(q) : defSize;
      if (hasSize) q += 4;
      const flags = hasFlags ? r.u32(q) : i === 0 && firstFlags !== null ? firstFlags : defFlags;
      if (hasFlags) q += 4;
      if (hasCto) q += 4;
      dataPos += size;
      if (dataPos > mdat.end) return r.fault("data_outside_mdat", `trun at ${t.start}: sample ${i} ends at ${dataPos}, past the mdat's end at ${mdat.end}`);
      if (isKeyFlags(flags)) {
        if (run.firstKeyTime === null) run.firstKeyTime = time;
        run.lastKeyTime = time;
      }
      if (run.sampleCount === 0) run.firstSampleIsKey = isKeyFlags(flags);
      run.sampleCount++;
      time += dur;
    }
    if (time > MAX_SAFE) return r.fault("bad_size", `track ${trackId}: decode time past 2^53`);
  }
  run.duration += time - tfdt;
  run.next = time;
  return dataPos;
}
