// From encoded samples to CMAF: the init segment (ftyp + moov, written by mediabunny from the
// encoders' decoder configurations) and fragments of about FRAGMENT_US, each cut where the page
// planned it before encoding, with a key frame planned every KEY_INTERVAL_US. Decode times are
// differences of one session clock, so every fragment starts exactly where the previous one
// ended, per track. Pure: no WebCodecs, no DOM (the unit test feeds it ffmpeg's packets).

import { BufferTarget, CmafOutputFormat, EncodedAudioPacketSource, EncodedPacket, EncodedVideoPacketSource, Output } from "mediabunny";
import { readInitTracks, writeFragment, type FragmentSample, type InitTrack, type TrackRun } from "./fmp4.ts";

/** Each fragment becomes one LL-HLS part: a quarter second keeps the playlist's hold-back short. */
export const FRAGMENT_US = 250_000;
/** The contract's lower bound for a fragment; the last one of a session waits until it has this much. */
export const MIN_FRAGMENT_US = 200_000;
/** A key frame every second: an independent part each second, where players can join. */
export const KEY_INTERVAL_US = 1_000_000;

/** An encoded sample as WebCodecs reports it (microseconds). */
export interface EncodedSample {
  timestampUs: number;
  durationUs: number | null;
  key: boolean;
  data: Uint8Array;
}

export interface CmafFragment {
  bytes: Uint8Array;
  /** Session time (µs from the first video frame) where the fragment starts and how long it is. */
  startUs: number;
  durationUs: number;
  /** Starts with a key frame: an independent part. */
  independent: boolean;
}

/**
 * The init segment for an H.264 (avc format, avcC in the description) track and optionally an
 * Opus track: mediabunny writes ftyp + moov once it has a first packet of each with its decoder
 * configuration. Both first packets are given timestamp 0, so the moov has no edit list.
 */
export async function buildInit(
  video: VideoDecoderConfig,
  audio: AudioDecoderConfig | null,
): Promise<{ init: Uint8Array; video: InitTrack; audio: InitTrack | null }> {
  const initTarget = new BufferTarget();
  const output = new Output({ format: new CmafOutputFormat(), target: new BufferTarget(), initTarget });
  const v = new EncodedVideoPacketSource("avc");
  output.addVideoTrack(v);
  const a = audio ? new EncodedAudioPacketSource("opus") : null;
  if (a) output.addAudioTrack(a);
  await output.start();
  // The packets' bytes never reach the init segment (it holds no samples); they only open the tracks.
  await v.add(new EncodedPacket(new Uint8Array(1), "key", 0, 0.04), { decoderConfig: video });
  if (a && audio) await a.add(new EncodedPacket(new Uint8Array(1), "key", 0, 0.02), { decoderConfig: audio });
  await output.finalize();
  const init = new Uint8Array(initTarget.buffer!);
  const tracks = readInitTracks(init);
  const vt = tracks.find((t) => t.kind === "video");
  if (!vt) throw new Error("mediabunny wrote no video track");
  return { init, video: vt, audio: tracks.find((t) => t.kind === "audio") ?? null };
}

interface Held {
  timestampUs: number;
  durationUs: number | null;
  key: boolean;
  data: Uint8Array;
}

/**
 * Cuts the encoders' output into fragments. `plan()` is asked before each frame is encoded: it
 * decides where fragments start and which frames are key frames, so cuts fall on frames that
 * exist. Video closes a fragment; the fragment leaves once audio has passed the cut (its last
 * audio sample's duration reaches the next one), so no track ever has a hole between fragments.
 */
export class CmafPackager {
  private originUs: number | null = null;
  private plannedStart: number | null = null;
  private plannedKey: number | null = null;
  private boundaries: number[] = [];
  private open: Held[] = [];
  private closed: { video: Held[]; endUs: number }[] = [];
  private audio: Held[] = [];
  private videoNext = 0;
  private audioNext: number | null = null;
  private seq = 1;
  private lastFrameUs = 40_000;

  private tracks: { video: InitTrack; audio: InitTrack | null } | null = null;

  constructor(
    private readonly emit: (f: CmafFragment) => void,
    private readonly opts = { fragmentUs: FRAGMENT_US, minFragmentUs: MIN_FRAGMENT_US, keyIntervalUs: KEY_INTERVAL_US },
  ) {}

  /**
   * The init's tracks, known once the encoders reported their configurations: fragments are
   * held until then (planning and cutting start with the first frame).
   */
  setTracks(tracks: { video: InitTrack; audio: InitTrack | null }): void {
    this.tracks = tracks;
    if (!tracks.audio) this.audio = [];
    this.drain(false);
  }

  /** Before encoding the frame at `timestampUs`: whether to ask the encoder for a key frame. */
  plan(timestampUs: number): { keyFrame: boolean } {
    if (this.plannedStart !== null && timestampUs - this.plannedStart < this.opts.fragmentUs) return { keyFrame: false };
    this.plannedStart = timestampUs;
    this.boundaries.push(timestampUs);
    // Half a fragment of tolerance: a key frame lands on the cut nearest to each second.
    const keyFrame = this.plannedKey === null || timestampUs - this.plannedKey >= this.opts.keyIntervalUs - this.opts.fragmentUs / 2;
    if (keyFrame) this.plannedKey = timestampUs;
    return { keyFrame };
  }

  /** Session time of the open (not yet cut) fragment, for a clean stop. */
  openDurationUs(): number {
    const first = this.open[0];
    const last = this.open[this.open.length - 1];
    return first && last ? last.timestampUs - first.timestampUs + (last.durationUs ?? this.lastFrameUs) : 0;
  }

  addVideo(s: EncodedSample): void {
    if (this.originUs === null) {
      if (!s.key) return; // a stream starts with a key frame
      this.originUs = s.timestampUs;
    }
    let cut = s.key;
    while (this.boundaries.length && this.boundaries[0]! <= s.timestampUs) {
      this.boundaries.shift();
      cut = true;
    }
    const first = this.open[0];
    // A key frame the encoder chose itself starts a part too. Either cut waits until the part
    // has the contract's shortest duration: after an unplanned cut, the next planned one may be
    // a frame or two away.
    if (first && cut && s.timestampUs - first.timestampUs >= this.opts.minFragmentUs) {
      this.closed.push({ video: this.open, endUs: s.timestampUs });
      this.open = [];
    }
    const prev = this.open[this.open.length - 1] ?? this.closed[this.closed.length - 1]?.video.at(-1);
    if (prev) this.lastFrameUs = Math.max(1, s.timestampUs - prev.timestampUs);
    this.open.push(s);
    this.drain(false);
  }

  addAudio(s: EncodedSample): void {
    if ((this.tracks && !this.tracks.audio) || this.originUs === null || s.timestampUs < this.originUs) return;
    this.audio.push(s);
    this.drain(false);
  }

  /** At the end: what is left up to the end of the last frame leaves as the last fragment. */
  flush(): void {
    if (this.open.length) {
      const last = this.open[this.open.length - 1]!;
      this.closed.push({ video: this.open, endUs: last.timestampUs + (last.durationUs ?? this.lastFrameUs) });
      this.open = [];
    }
    this.drain(true);
  }

  private units(us: number, timescale: number): number {
    return Math.round(((us - this.originUs!) * timescale) / 1_000_000);
  }

  private drain(final: boolean): void {
    if (!this.tracks) return;
    while (this.closed.length) {
      const f = this.closed[0]!;
      const audioPassed = !this.tracks.audio || this.audio.some((a) => a.timestampUs >= f.endUs);
      if (!audioPassed && !final) return;
      this.closed.shift();
      const runs: TrackRun[] = [this.videoRun(this.tracks.video, f.video, f.endUs)];
      const audio = this.tracks.audio ? this.takeAudio(f.endUs) : [];
      if (audio.length) runs.push(this.audioRun(this.tracks.audio!, audio));
      // The session ends with its last frame: audio recorded after it is not kept (the media
      // duration is the video's, which is what the capture figures count).
      if (final && this.closed.length === 0) this.audio = [];
      const startUs = f.video[0]!.timestampUs - this.originUs!;
      this.emit({ bytes: writeFragment(this.seq++, runs), startUs, durationUs: f.endUs - f.video[0]!.timestampUs, independent: f.video[0]!.key });
    }
  }

  private videoRun(track: InitTrack, samples: Held[], endUs: number): TrackRun {
    const ts = track.timescale;
    const base = this.videoNext;
    let at = base;
    // Durations are differences of rounded session times: the next fragment starts where this one ends.
    const out: FragmentSample[] = samples.map((s, i) => {
      const end = this.units(i + 1 < samples.length ? samples[i + 1]!.timestampUs : endUs, ts);
      const duration = Math.max(0, end - at);
      at += duration;
      return { data: s.data, key: s.key, duration };
    });
    this.videoNext = at;
    return { trackId: track.id, baseDecodeTime: base, samples: out };
  }

  private takeAudio(endUs: number): Held[] {
    const n = this.audio.findIndex((a) => a.timestampUs >= endUs);
    return this.audio.splice(0, n < 0 ? this.audio.length : n);
  }

  private audioRun(track: InitTrack, samples: Held[]): TrackRun {
    const ts = track.timescale;
    const base = this.audioNext ?? this.units(samples[0]!.timestampUs, ts);
    let at = base;
    const out = samples.map((s, i) => {
      const nextUs = samples[i + 1]?.timestampUs ?? this.audio[0]?.timestampUs ?? null;
      const end = nextUs === null ? at + Math.round(((s.durationUs ?? 20_000) * ts) / 1_000_000) : this.units(nextUs, ts);
      const duration = Math.max(0, end - at);
      at += duration;
      return { data: s.data, key: true, duration };
    });
    this.audioNext = at;
    return { trackId: track.id, baseDecodeTime: base, samples: out };
  }
}
