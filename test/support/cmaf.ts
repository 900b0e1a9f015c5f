import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What a WebCodecs phone sends: one init segment and a list of chunks (each one or more moof+mdat). */
export interface CmafMedia {
  init: Uint8Array<ArrayBuffer>;
  chunks: Uint8Array<ArrayBuffer>[];
}

/**
 * Fragmented MP4 from ffmpeg (H.264 at 30 fps with a key frame every `keyFrameEvery` frames + Opus), split with our own
 * top-level box walk: ftyp+moov is the init; each video moof+mdat and the audio moof+mdat pairs up
 * to the next video moof make one chunk, as a muxer cutting 0.25-s parts sends them.
 */
export async function makeCmaf(opts: { seconds?: number; fragMs?: number; size?: string; audio?: boolean; keyFrameEvery?: number } = {}): Promise<CmafMedia> {
  const { seconds = 3, fragMs = 250, size = "320x240", audio = true, keyFrameEvery = 30 } = opts;
  const dir = mkdtempSync(join(tmpdir(), "rter-cmaf-"));
  try {
    const out = join(dir, "out.mp4");
    const args = [
      "ffmpeg",
      "-v",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      `testsrc2=size=${size}:rate=30`,
      ...(audio ? ["-f", "lavfi", "-i", "sine=sample_rate=48000"] : []),
      "-t",
      String(seconds),
      "-c:v",
      "libx264",
      "-preset",
      "ultrafast",
      "-pix_fmt",
      "yuv420p",
      "-g",
      String(keyFrameEvery),
      "-keyint_min",
      String(keyFrameEvery),
      "-sc_threshold",
      "0",
      ...(audio ? ["-c:a", "libopus"] : []),
      "-f",
      "mp4",
      "-movflags",
      "cmaf+frag_keyframe+empty_moov+default_base_moof+separate_moof",
      "-frag_duration",
      String(fragMs * 1000),
      out,
    ];
    const p = Bun.spawn(args, { stderr: "pipe", timeout: 60_000 });
    if ((await p.exited) !== 0) throw new Error(`ffmpeg failed making CMAF: ${await new Response(p.stderr).text()}`);
    return splitCmaf(new Uint8Array(readFileSync(out)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface TopBox {
  type: string;
  start: number;
  end: number;
}

/** The top-level boxes of a well-formed file (test input we made ourselves, so no checks). */
export function topBoxes(bytes: Uint8Array): TopBox[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: TopBox[] = [];
  for (let p = 0; p + 8 <= bytes.length; ) {
    const size = dv.getUint32(p);
    const type = String.fromCharCode(...bytes.subarray(p + 4, p + 8));
    out.push({ type, start: p, end: p + size });
    p += size;
  }
  return out;
}

/** Track id of the first tfhd inside a moof. */
export function moofTrack(bytes: Uint8Array, moof: TopBox): number {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let p = moof.start + 8; p + 12 <= moof.end; p++) {
    if (bytes[p] === 0x74 && bytes[p + 1] === 0x66 && bytes[p + 2] === 0x68 && bytes[p + 3] === 0x64) return dv.getUint32(p + 8);
  }
  throw new Error("moof without tfhd");
}

export function splitCmaf(file: Uint8Array): CmafMedia {
  const boxes = topBoxes(file);
  const moov = boxes.findIndex((b) => b.type === "moov");
  const init = file.slice(0, boxes[moov]!.end);
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let start = -1;
  let end = -1;
  for (let i = moov + 1; i < boxes.length; i++) {
    const b = boxes[i]!;
    if (b.type !== "moof") continue;
    const mdat = boxes[i + 1]!;
    // Track 1 is the video track in what ffmpeg writes from testsrc2 first.
    if (moofTrack(file, b) === 1 && start >= 0) {
      chunks.push(file.slice(start, end));
      start = -1;
    }
    if (start < 0) start = b.start;
    end = mdat.end;
  }
  if (start >= 0) chunks.push(file.slice(start, end));
  return { init, chunks };
}

/** Bytes with a box header: 32-bit size and fourcc, then the body. */
export function box(type: string, ...body: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const size = 8 + body.reduce((n, b) => n + b.length, 0);
  const out = new Uint8Array(size);
  new DataView(out.buffer).setUint32(0, size);
  out.set(new TextEncoder().encode(type), 4);
  let p = 8;
  for (const b of body) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let p = 0;
  for (const b of parts) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}

/** Offset of the first occurrence of fourcc `type` at or after `from` (the type field, size is 4 before). */
export function findType(bytes: Uint8Array, type: string, from = 0): number {
  const t = new TextEncoder().encode(type);
  for (let p = Math.max(from, 4); p + 4 <= bytes.length; p++) {
    if (bytes[p] === t[0] && bytes[p + 1] === t[1] && bytes[p + 2] === t[2] && bytes[p + 3] === t[3]) return p;
  }
  return -1;
}
