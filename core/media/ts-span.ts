import type { PacketSpan } from "./ffmpeg.ts";

/**
 * The extent of an MPEG-TS segment, read in-process: what `probePacketSpan` learns from ffprobe,
 * without a second process per segment (ffprobe costs ~0.2 s of CPU just to start on a Debian
 * build, as much as the remux itself). Handles what our muxer writes: H.264/HEVC with one frame
 * per PES, AAC in ADTS with several frames per PES. Returns null for anything else, and the
 * caller falls back to ffprobe.
 */

const TS = 188;
const CLOCK = 90_000;
const ADTS_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
const VIDEO_TYPES = new Set([0x1b, 0x24]); // H.264, HEVC
const AAC_ADTS = 0x0f;

interface Pes {
  pts: number;
  data: Uint8Array[];
}

function readPts(b: Uint8Array, i: number): number {
  return ((b[i]! >> 1) & 7) * 2 ** 30 + ((b[i + 1]! << 22) | ((b[i + 2]! >> 1) << 15) | (b[i + 3]! << 7) | (b[i + 4]! >> 1));
}

/** Samples and sample rate in one PES payload of ADTS frames. */
function adtsSamples(chunks: Uint8Array[]): { samples: number; rate: number } | null {
  const b = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  let samples = 0;
  let rate = 0;
  for (let i = 0; i + 7 <= b.length; ) {
    if (b[i] !== 0xff || (b[i + 1]! & 0xf0) !== 0xf0) return null;
    rate = ADTS_RATES[(b[i + 2]! >> 2) & 0xf] ?? 0;
    const len = ((b[i + 3]! & 3) << 11) | (b[i + 4]! << 3) | (b[i + 5]! >> 5);
    if (!rate || len < 7) return null;
    samples += ((b[i + 6]! & 3) + 1) * 1024;
    i += len;
  }
  return rate ? { samples, rate } : null;
}

/**
 * @param fallbackFrameSec length of the last video frame when the segment has a single frame
 *   (otherwise the median frame interval is used, as a player would show it).
 */
export function tsPacketSpan(bytes: Uint8Array, fallbackFrameSec = 1 / 30): PacketSpan | null {
  if (bytes.length < TS || bytes.length % TS !== 0) return null;
  let pmtPid = -1;
  const kind = new Map<number, "video" | "audio">();
  const open = new Map<number, Pes>();
  const video: number[] = [];
  const audioEnds: number[] = [];
  let packets = 0;
  let bad = false;
  let startSec = Infinity;

  const close = (pid: number) => {
    const pes = open.get(pid);
    if (!pes) return;
    open.delete(pid);
    packets++;
    startSec = Math.min(startSec, pes.pts / CLOCK);
    if (kind.get(pid) === "video") return void video.push(pes.pts);
    const a = adtsSamples(pes.data);
    if (!a) bad = true;
    else audioEnds.push(pes.pts / CLOCK + a.samples / a.rate);
  };

  for (let at = 0; at < bytes.length; at += TS) {
    const p = bytes.subarray(at, at + TS);
    if (p[0] !== 0x47) return null;
    const start = (p[1]! & 0x40) !== 0;
    const pid = ((p[1]! & 0x1f) << 8) | p[2]!;
    const afc = (p[3]! >> 4) & 3;
    if (!(afc & 1)) continue;
    const off = afc & 2 ? 5 + p[4]! : 4;
    if (off >= TS) continue;
    const pay = p.subarray(off);

    if (pid === 0 && start) {
      const t = pay.subarray(1 + pay[0]!); // pointer field
      if (t[0] === 0x00 && t.length >= 12) pmtPid = ((t[10]! & 0x1f) << 8) | t[11]!;
    } else if (pid === pmtPid && start) {
      const t = pay.subarray(1 + pay[0]!);
      if (t[0] !== 0x02) continue;
      const end = 3 + (((t[1]! & 0x0f) << 8) | t[2]!) - 4; // section, less its CRC
      let i = 12 + (((t[10]! & 0x0f) << 8) | t[11]!);
      for (; i + 5 <= end && i + 5 <= t.length; i += 5 + (((t[i + 3]! & 0x0f) << 8) | t[i + 4]!)) {
        const type = t[i]!;
        const es = ((t[i + 1]! & 0x1f) << 8) | t[i + 2]!;
        if (VIDEO_TYPES.has(type)) kind.set(es, "video");
        else if (type === AAC_ADTS) kind.set(es, "audio");
      }
    } else if (kind.has(pid)) {
      if (start) {
        close(pid);
        if (pay[0] !== 0 || pay[1] !== 0 || pay[2] !== 1 || !((pay[7]! >> 6) & 2)) return null;
        open.set(pid, { pts: readPts(pay, 9), data: [pay.subarray(9 + pay[8]!)] });
      } else {
        open.get(pid)?.data.push(pay);
      }
    }
  }
  for (const pid of [...open.keys()]) close(pid);
  if (bad || packets === 0) return null;

  const ends = [...audioEnds];
  if (video.length) {
    const sorted = [...video].sort((x, y) => x - y);
    const steps = sorted
      .slice(1)
      .map((x, i) => x - sorted[i]!)
      .filter((d) => d > 0)
      .sort((x, y) => x - y);
    const frame = steps.length ? steps[Math.floor(steps.length / 2)]! / CLOCK : fallbackFrameSec;
    ends.push(sorted.at(-1)! / CLOCK + frame);
  }
  return { startSec, endSec: Math.max(...ends), packets };
}
