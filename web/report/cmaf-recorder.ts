// The WebCodecs path: one VideoEncoder (H.264, avc format) and one AudioEncoder (Opus) for the
// whole session, fed camera and microphone frames by MediaStreamTrackProcessor, packaged as CMAF
// (an init segment, then fragments of about a quarter second). No restarts, so no gaps: decode
// times run on from the first frame to the last.

import { buildInit, CmafPackager, MIN_FRAGMENT_US, type CmafFragment, type EncodedSample } from "./cmaf-packager.ts";
import type { ChunkSink, Recorder } from "./recorder.ts";

export const CMAF_CHUNK_TYPE = "video/iso.segment";

/** Chromium has it on window; the DOM typings do not have it yet. */
declare const MediaStreamTrackProcessor: {
  new (init: { track: MediaStreamTrack; maxBufferSize?: number }): { readable: ReadableStream<VideoFrame | AudioData> };
};

export interface CmafSink extends ChunkSink {
  /** Resolves once the init segment is safe (in the outbox), before any chunk is handed over. */
  init(bytes: Uint8Array): Promise<void>;
}

interface Quality {
  width: number;
  height: number;
  fps: number;
  videoBps: number;
  audioBps: number;
}

export function quality(low: boolean): Quality {
  return low
    ? { width: 640, height: 360, fps: 15, videoBps: 450_000, audioBps: 32_000 }
    : { width: 1280, height: 720, fps: 25, videoBps: 1_200_000, audioBps: 64_000 };
}

/** Baseline profile (no B-frames, so decode order is presentation order): level 3.1 up to 720p, 4.0 up to 1080p. */
function avcCodec(width: number, height: number): string {
  const macroblocks = Math.ceil(width / 16) * Math.ceil(height / 16);
  return macroblocks <= 3600 ? "avc1.42E01F" : "avc1.42E028";
}

function videoConfig(width: number, height: number, q: Quality): VideoEncoderConfig {
  // 4:2:0 needs even dimensions; the encoder scales a frame of another size.
  const w = Math.max(2, width & ~1);
  const h = Math.max(2, height & ~1);
  return {
    codec: avcCodec(w, h),
    width: w,
    height: h,
    bitrate: q.videoBps,
    framerate: q.fps,
    latencyMode: "realtime",
    avc: { format: "avc" },
  } as VideoEncoderConfig;
}

/** WebCodecs with H.264 and Opus encoders and a way to read camera frames; else the MediaRecorder path. */
export async function cmafSupported(low: boolean): Promise<boolean> {
  const g = globalThis as Record<string, unknown>;
  if (typeof g.VideoEncoder !== "function" || typeof g.AudioEncoder !== "function" || typeof g.MediaStreamTrackProcessor !== "function") return false;
  const q = quality(low);
  try {
    const [v, a] = await Promise.all([
      VideoEncoder.isConfigSupported(videoConfig(q.width, q.height, q)),
      AudioEncoder.isConfigSupported({ codec: "opus", sampleRate: 48_000, numberOfChannels: 1, bitrate: q.audioBps }),
    ]);
    return v.supported === true && a.supported === true;
  } catch {
    return false;
  }
}

/**
 * Starts encoding `media` at once; the init goes to the sink when both encoders have reported
 * their configuration, then one chunk per fragment. `onError` reports an encoder that failed.
 */
export function startCmafRecorder(media: MediaStream, low: boolean, sink: CmafSink, onError: (msg: string) => void): Recorder {
  const q = quality(low);
  const videoTrack = media.getVideoTracks()[0];
  if (!videoTrack) throw new Error("no camera track");
  const audioTrack = media.getAudioTracks()[0] ?? null;
  let recorded = 0;
  let capturedUs = 0;
  let stopping = false;
  let failed = false;
  // Writes in order: the init first, then chunks by seq.
  let chain: Promise<void> = Promise.resolve();
  let wallAtOrigin = 0;
  let videoConfigSeen: VideoDecoderConfig | null = null;
  let audioConfigSeen: AudioDecoderConfig | null = null;
  let initStarted = false;

  const fail = (msg: string) => {
    if (failed) return;
    failed = true;
    onError(msg);
  };

  const packager = new CmafPackager((f: CmafFragment) => {
    recorded++;
    capturedUs += f.durationUs;
    chain = chain.then(() => {
      const seq = sink.nextSeq();
      return sink.chunk(seq, {
        blob: new Blob([f.bytes as Uint8Array<ArrayBuffer>], { type: CMAF_CHUNK_TYPE }),
        type: CMAF_CHUNK_TYPE,
        start: Math.round(wallAtOrigin + f.startUs / 1000),
      });
    });
  });

  const maybeInit = () => {
    if (initStarted || !videoConfigSeen || (audioTrack && !audioConfigSeen)) return;
    initStarted = true;
    const made = buildInit(videoConfigSeen, audioConfigSeen);
    chain = chain.then(async () => {
      const { init, video, audio } = await made;
      await sink.init(init);
      packager.setTracks({ video, audio });
    });
    chain.catch((e) => fail(`packaging failed: ${(e as Error).message}`));
  };

  const sample = (chunk: EncodedVideoChunk | EncodedAudioChunk, offsetUs = 0): EncodedSample => {
    const data = new Uint8Array(chunk.byteLength);
    chunk.copyTo(data);
    return { timestampUs: chunk.timestamp + offsetUs, durationUs: chunk.duration ?? null, key: chunk.type === "key", data };
  };

  const venc = new VideoEncoder({
    output: (chunk, meta) => {
      if (meta?.decoderConfig && !videoConfigSeen) {
        videoConfigSeen = meta.decoderConfig;
        maybeInit();
      }
      packager.addVideo(sample(chunk));
    },
    error: (e) => fail(`video encoder: ${e.message}`),
  });

  // Camera and microphone timestamps may come from different clocks: audio is placed on the
  // video clock by when its first frame arrived, unless the two already agree within half a second.
  let audioOffsetUs: number | null = null;
  let lastVideo = null as { ts: number; at: number } | null;
  const frameUs = 1_000_000 / q.fps;
  let lastSlot: number | null = null;
  let videoDone = false;
  const aenc = audioTrack
    ? new AudioEncoder({
        output: (chunk, meta) => {
          if (meta?.decoderConfig && !audioConfigSeen) {
            audioConfigSeen = meta.decoderConfig;
            maybeInit();
          }
          packager.addAudio(sample(chunk, audioOffsetUs ?? 0));
        },
        error: (e) => fail(`audio encoder: ${e.message}`),
      })
    : null;

  const videoReader = new MediaStreamTrackProcessor({ track: videoTrack }).readable.getReader() as ReadableStreamDefaultReader<VideoFrame>;
  const audioReader = audioTrack ? (new MediaStreamTrackProcessor({ track: audioTrack }).readable.getReader() as ReadableStreamDefaultReader<AudioData>) : null;

  const videoLoop = (async () => {
    for (;;) {
      const { value: frame, done } = await videoReader.read();
      if (done || !frame) return;
      // A clean end: the last fragment gets at least the contract's shortest duration.
      if ((stopping && packager.openDurationUs() >= MIN_FRAGMENT_US) || failed) {
        frame.close();
        return;
      }
      if (venc.state === "unconfigured") {
        venc.configure(videoConfig(frame.displayWidth, frame.displayHeight, q));
        wallAtOrigin = Date.now();
      }
      lastVideo = { ts: frame.timestamp, at: performance.now() };
      // Frames go on the grid of the nominal frame rate (±half a frame): a camera that delivers
      // two frames a few ms apart (a busy phone catching up) would give two frames one time slot,
      // which players and ffmpeg take for timestamps going backwards. The later one is dropped.
      const slot = Math.round(frame.timestamp / frameUs);
      // The encoder falling behind (a slow phone): drop frames here rather than queue seconds.
      if ((lastSlot !== null && slot <= lastSlot) || venc.encodeQueueSize > q.fps) {
        frame.close();
        continue;
      }
      lastSlot = slot;
      const timestamp = Math.round(slot * frameUs);
      const onGrid = new VideoFrame(frame, { timestamp });
      frame.close();
      venc.encode(onGrid, packager.plan(timestamp));
      onGrid.close();
    }
  })();

  const audioLoop = (async () => {
    if (!audioReader || !aenc) return;
    for (;;) {
      const { value: data, done } = await audioReader.read();
      if (done || !data) return;
      if (failed || (stopping && videoDone)) {
        data.close();
        return;
      }
      if (audioOffsetUs === null) {
        if (!lastVideo) {
          data.close(); // audio before the first frame has no place on the timeline
          continue;
        }
        const expected = lastVideo.ts + (performance.now() - lastVideo.at) * 1000;
        audioOffsetUs = Math.abs(data.timestamp - expected) < 500_000 ? 0 : Math.round(expected - data.timestamp);
        aenc.configure({ codec: "opus", sampleRate: data.sampleRate, numberOfChannels: data.numberOfChannels, bitrate: q.audioBps });
      }
      aenc.encode(data);
      data.close();
    }
  })();
  void videoLoop.then(() => (videoDone = true));

  return {
    format: "cmaf",
    label: `CMAF H.264 + ${audioTrack ? "Opus" : "no audio"} (WebCodecs)`,
    recorded: () => recorded,
    capturedMs: () => capturedUs / 1000,
    gaps: () => [],
    async stop() {
      stopping = true;
      // A camera that stopped delivering frames must not hold the stop forever.
      await Promise.race([videoLoop, new Promise((r) => setTimeout(r, 1_500))]);
      videoDone = true;
      await Promise.race([audioLoop, new Promise((r) => setTimeout(r, 200))]);
      await Promise.allSettled([videoReader.cancel(), audioReader?.cancel()]);
      await Promise.allSettled([venc.state === "configured" ? venc.flush() : null, aenc?.state === "configured" ? aenc.flush() : null]);
      await chain.catch(() => {}); // the init, if it was still being written
      packager.flush();
      await chain.catch(() => {});
      for (const e of [venc, aenc]) if (e && e.state !== "closed") e.close();
    },
  };
}
