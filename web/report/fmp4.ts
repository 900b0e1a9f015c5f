// ISO BMFF boxes the reporter writes itself: one movie fragment (moof + mdat) per CMAF chunk, and
// reading the track ids and timescales back out of the init segment mediabunny wrote. mediabunny
// only cuts fragments at key frames; LL-HLS parts need fragments of a quarter second with a key
// frame every second, so the fragments are written here (a few fixed boxes, no codec knowledge).

/** One coded sample in the track's timescale. */
export interface FragmentSample {
  data: Uint8Array;
  duration: number;
  key: boolean;
  /** Presentation minus decode time (0 without B-frames). */
  compositionOffset?: number;
}

/** The samples of one track in one fragment, starting at `baseDecodeTime` (track timescale). */
export interface TrackRun {
  trackId: number;
  baseDecodeTime: number;
  samples: FragmentSample[];
}

export interface InitTrack {
  id: number;
  kind: "video" | "audio" | "other";
  timescale: number;
}

// sample_flags (ISO 14496-12 §8.8.3.1): a sync sample depends on nothing; any other depends on
// earlier samples and is flagged non-sync.
const KEY_FLAGS = 0x02000000;
const DELTA_FLAGS = 0x01010000;

class Bytes {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.room(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
  }
  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.length, v >>> 0);
    this.length += 4;
  }
  i32(v: number): void {
    this.room(4);
    this.view.setInt32(this.length, v);
    this.length += 4;
  }
  u64(v: number): void {
    this.u32(Math.floor(v / 2 ** 32));
    this.u32(v % 2 ** 32);
  }
  ascii(s: string): void {
    for (let i = 0; i < s.length; i++) this.u8(s.charCodeAt(i));
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  /** Writes a box around what `body` writes; returns the offset of the box. */
  box(type: string, body: () => void, full?: { version: number; flags: number }): number {
    const at = this.length;
    this.u32(0);
    this.ascii(type);
    if (full) this.u32((full.version << 24) | full.flags);
    body();
    this.view.setUint32(at, this.length - at);
    return at;
  }
  setU32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0);
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** moof + mdat for `runs` (one traf per track, media in the same order in the mdat). */
export function writeFragment(sequenceNumber: number, runs: TrackRun[]): Uint8Array {
  const b = new Bytes();
  const dataOffsetAt: number[] = [];
  const moofAt = b.box("moof", () => {
    b.box("mfhd", () => b.u32(sequenceNumber), { version: 0, flags: 0 });
    for (const run of runs) {
      b.box("traf", () => {
        // default-base-is-moof: data offsets count from the start of this moof (CMAF §7.5.16).
        b.box("tfhd", () => b.u32(run.trackId), { version: 0, flags: 0x020000 });
        b.box("tfdt", () => b.u64(run.baseDecodeTime), { version: 1, flags: 0 });
        const withCto = run.samples.some((s) => (s.compositionOffset ?? 0) !== 0);
        const flags = 0x000001 | 0x000100 | 0x000200 | 0x000400 | (withCto ? 0x000800 : 0);
        b.box(
          "trun",
          () => {
            b.u32(run.samples.length);
            dataOffsetAt.push(b.length);
            b.i32(0);
            for (const s of run.samples) {
              b.u32(s.duration);
              b.u32(s.data.length);
              b.u32(s.key ? KEY_FLAGS : DELTA_FLAGS);
              if (withCto) b.i32(s.compositionOffset ?? 0);
            }
          },
          { version: withCto ? 1 : 0, flags },
        );
      });
    }
  });
  const moofSize = b.length - moofAt;
  let offset = moofSize + 8;
  runs.forEach((run, i) => {
    b.setU32(dataOffsetAt[i]!, offset);
    offset += run.samples.reduce((n, s) => n + s.data.length, 0);
  });
  b.box("mdat", () => {
    for (const run of runs) for (const s of run.samples) b.bytes(s.data);
  });
  return b.done();
}

interface Box {
  type: string;
  start: number;
  /** Where the payload starts (after size and type). */
  body: number;
  end: number;
}

/** The boxes in `bytes[from, to)`; stops at the first box whose size does not fit. */
export function boxes(bytes: Uint8Array, from = 0, to = bytes.length): Box[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Box[] = [];
  let at = from;
  while (at + 8 <= to) {
    let size = v.getUint32(at);
    let body = at + 8;
    if (size === 1) {
      if (at + 16 > to) break;
      size = Number(v.getBigUint64(at + 8));
      body = at + 16;
    } else if (size === 0) size = to - at;
    if (size < body - at || at + size > to) break;
    out.push({ type: String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!), start: at, body, end: at + size });
    at += size;
  }
  return out;
}

const child = (bytes: Uint8Array, parent: Box, type: string) => boxes(bytes, parent.body, parent.end).find((b) => b.type === type);

/** Track ids, kinds and timescales of an init segment (ftyp + moov). */
export function readInitTracks(init: Uint8Array): InitTrack[] {
  const v = new DataView(init.buffer, init.byteOffset, init.byteLength);
  const moov = boxes(init).find((b) => b.type === "moov");
  if (!moov) throw new Error("init segment has no moov");
  const tracks: InitTrack[] = [];
  for (const trak of boxes(init, moov.body, moov.end).filter((b) => b.type === "trak")) {
    const tkhd = child(init, trak, "tkhd");
    const mdia = child(init, trak, "mdia");
    const mdhd = mdia && child(init, mdia, "mdhd");
    const hdlr = mdia && child(init, mdia, "hdlr");
    if (!tkhd || !mdhd || !hdlr) throw new Error("init segment track without tkhd/mdhd/hdlr");
    const tkhdV1 = init[tkhd.body] === 1;
    const mdhdV1 = init[mdhd.body] === 1;
    const handler = String.fromCharCode(...init.subarray(hdlr.body + 8, hdlr.body + 12));
    tracks.push({
      id: v.getUint32(tkhd.body + 4 + (tkhdV1 ? 16 : 8)),
      kind: handler === "vide" ? "video" : handler === "soun" ? "audio" : "other",
      timescale: v.getUint32(mdhd.body + 4 + (mdhdV1 ? 16 : 8)),
    });
  }
  return tracks;
}
