import { MediaError } from "../media-error.ts";
import type { ContainerProbe } from "./types.ts";
import { medianStep, VideoScan } from "./video-scan.ts";

/**
 * MPEG-TS read in process: PAT → PMT → PES of each elementary stream. Only the stream types a
 * capture client writes are accepted (H.264, HEVC, AAC in ADTS, MP3, plus private and ID3 data that
 * ffmpeg is told to drop); any other video or audio type is refused, so ffmpeg never picks a
 * stream we did not look at.
 */

const TS = 188;
const CLOCK = 90_000;
const VIDEO: Record<number, string> = { 0x1b: "h264", 0x24: "hevc" };
const AUDIO: Record<number, string> = { 0x0f: "aac", 0x03: "mp3", 0x04: "mp3" };
/** Private data (0x06) and timed ID3 metadata (0x15): not mapped by our ffmpeg arguments. */
const IGNORED = new Set([0x06, 0x15]);
const ADTS_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

function refuse(reason: string): never {
  throw new MediaError("unprocessable", `MPEG-TS: ${reason}`);
}

function readPts(b: Uint8Array, i: number): number {
  return ((b[i]! >> 1) & 7) * 2 ** 30 + ((b[i + 1]! << 22) | ((b[i + 2]! >> 1) << 15) | (b[i + 3]! << 7) | (b[i + 4]! >> 1));
}

interface Pes {
  pts: number | null;
  data: Uint8Array[];
}

/** ADTS frames of one PES: sample count, rate and channels. */
function adts(b: Uint8Array): { samples: number; rate: number; channels: number } {
  let samples = 0;
  let rate = 0;
  let channels = 0;
  for (let i = 0; i < b.length; ) {
    if (i + 7 > b.length || b[i] !== 0xff || (b[i + 1]! & 0xf0) !== 0xf0) refuse("AAC audio is not in ADTS frames");
    rate = ADTS_RATES[(b[i + 2]! >> 2) & 0xf] ?? 0;
    channels = ((b[i + 2]! & 1) << 2) | (b[i + 3]! >> 6);
    const len = ((b[i + 3]! & 3) << 11) | (b[i + 4]! << 3) | (b[i + 5]! >> 5);
    if (!rate || len < 7) refuse("malformed ADTS header");
    samples += ((b[i + 6]! & 3) + 1) * 1024;
    i += len;
  }
  return { samples, rate, channels };
}

export function probeTs(bytes: Uint8Array): ContainerProbe {
  if (bytes.length < TS || bytes.length % TS !== 0) refuse(`length ${bytes.length} is not a whole number of 188-byte packets`);
  let pmtPid = -1;
  const types = new Map<number, number>();
  const open = new Map<number, Pes>();
  let videoPid = -1;
  let audioPid = -1;
  let scan: VideoScan | null = null;
  let audio: { codec: string; sampleRate: number; channels: number } | undefined;
  let start = Infinity;
  let end = -Infinity;
  let packets = 0;

  const close = (pid: number) => {
    const pes = open.get(pid);
    if (!pes) return;
    open.delete(pid);
    const data = pes.data.length === 1 ? pes.data[0]! : Buffer.concat(pes.data);
    const t = pes.pts === null ? null : pes.pts / CLOCK;
    if (pid === videoPid && scan) {
      packets++;
      scan.frame(data, t ?? scan.result().pts.at(-1) ?? 0);
    } else if (pid === audioPid && audio) {
      packets++;
      if (t === null) return;
      start = Math.min(start, t);
      if (audio.codec === "aac") {
        const a = adts(data);
        audio.sampleRate = a.rate;
        audio.channels = a.channels;
        end = Math.max(end, t + a.samples / a.rate);
      } else {
        end = Math.max(end, t);
      }
    }
  };

  for (let at = 0; at < bytes.length; at += TS) {
    const p = bytes.subarray(at, at + TS);
    if (p[0] !== 0x47) refuse(`lost sync at byte ${at}`);
    const unitStart = (p[1]! & 0x40) !== 0;
    const pid = ((p[1]! & 0x1f) << 8) | p[2]!;
    const afc = (p[3]! >> 4) & 3;
    if (!(afc & 1)) continue;
    const off = afc & 2 ? 5 + p[4]! : 4;
    if (off >= TS) continue;
    const pay = p.subarray(off);

    if (pid === 0 && unitStart) {
      const t = pay.subarray(1 + pay[0]!);
      if (t[0] === 0x00 && t.length >= 12) pmtPid = ((t[10]! & 0x1f) << 8) | t[11]!;
    } else if (pid === pmtPid && unitStart && types.size === 0) {
      const t = pay.subarray(1 + pay[0]!);
      if (t[0] !== 0x02 || t.length < 12) continue;
      const end = Math.min(t.length, 3 + (((t[1]! & 0x0f) << 8) | t[2]!) - 4);
      for (let i = 12 + (((t[10]! & 0x0f) << 8) | t[11]!); i + 5 <= end; i += 5 + (((t[i + 3]! & 0x0f) << 8) | t[i + 4]!)) {
        const type = t[i]!;
        const es = ((t[i + 1]! & 0x1f) << 8) | t[i + 2]!;
        types.set(es, type);
        if (VIDEO[type]) {
          if (videoPid >= 0) refuse("more than one video stream");
          videoPid = es;
          scan = new VideoScan(VIDEO[type]);
        } else if (AUDIO[type]) {
          if (audioPid < 0) {
            audioPid = es;
            audio = { codec: AUDIO[type], sampleRate: 0, channels: 0 };
          }
        } else if (!IGNORED.has(type)) {
          refuse(`unsupported stream type 0x${type.toString(16).padStart(2, "0")}`);
        }
      }
    } else if (pid === videoPid || pid === audioPid) {
      if (unitStart) {
        close(pid);
        if (pay[0] !== 0 || pay[1] !== 0 || pay[2] !== 1 || pay.length < 9) refuse("PES header missing");
        const hasPts = (pay[7]! >> 6) & 2;
        const body = 9 + pay[8]!;
        if (body > pay.length || (hasPts && pay.length < 14)) refuse("PES header runs past its packet");
        open.set(pid, { pts: hasPts ? readPts(pay, 9) : null, data: [pay.subarray(body)] });
      } else {
        open.get(pid)?.data.push(pay);
      }
    }
  }
  for (const pid of [...open.keys()]) close(pid);
  if (pmtPid < 0 || types.size === 0) refuse("no program table");

  const out: ContainerProbe = { container: "mpegts", audio, startSec: null, endSec: null, packets };
  if (scan) {
    const r = (scan as VideoScan).result();
    const first = r.sizes[0];
    out.video = { codec: (scan as VideoScan).codec, width: first?.width, height: first?.height, scan: r };
    if (r.pts.length) {
      const step = medianStep(r.pts) ?? 1 / 30;
      for (const t of r.pts) {
        start = Math.min(start, t);
        end = Math.max(end, t + step);
      }
    }
  }
  if (packets && Number.isFinite(start)) {
    out.startSec = start;
    out.endSec = end;
  }
  return out;
}
