// The MediaRecorder path, for browsers without WebCodecs: self-contained 1 s chunks, a new
// MediaRecorder per chunk (so each one starts with a key frame), the next one started before the
// previous one stops so the two overlap by a few ms and never leave a hole.

export const CHUNK_MS = 1_000;

/** Where a recorder hands its output; seqs come from the page, which owns the stream. */
export interface ChunkSink {
  nextSeq(): number;
  /** Resolves once the chunk is safe (in the outbox). */
  chunk(seq: number, c: { blob: Blob; type: string; start: number }): Promise<void>;
}

/** What the page needs from either recorder. */
export interface Recorder {
  readonly format: "classic" | "cmaf";
  /** The format sent, for the page's figures and the tests. */
  readonly label: string;
  recorded(): number;
  /** Media time captured so far (ms): the sum of the chunks' durations, as far as the recorder knows it. */
  capturedMs(): number;
  /** Recorder restart times (ms) of the classic path; empty for one continuous encoder. */
  gaps(): number[];
  /** Stops capture and resolves once the last chunk is in the outbox. */
  stop(): Promise<void>;
}

/** Prefer H.264 in WebM/Matroska (the server copies it), else VP8/VP9. */
export function pickMime(): string {
  const candidates = [
    "video/webm;codecs=h264,opus",
    "video/webm;codecs=avc1,opus",
    "video/x-matroska;codecs=avc1,opus",
    "video/webm;codecs=vp8,opus",
    "video/webm;codecs=vp9,opus",
    "video/webm",
    "video/mp4",
  ];
  return candidates.find((c) => MediaRecorder.isTypeSupported(c)) ?? "";
}

export function startClassicRecorder(media: MediaStream, mime: string, low: boolean, sink: ChunkSink): Recorder {
  let recording = true;
  let recorded = 0;
  const gaps: number[] = [];
  let startedAt = 0;
  const pendingWrites = new Set<Promise<void>>();

  function start(): MediaRecorder {
    const seq = sink.nextSeq();
    const rec = new MediaRecorder(media, { mimeType: mime, videoBitsPerSecond: low ? 450_000 : 1_200_000, audioBitsPerSecond: low ? 32_000 : 64_000 });
    const parts: Blob[] = [];
    rec.ondataavailable = (e) => {
      if (e.data.size) parts.push(e.data);
    };
    // The recorder takes frames from start() on: that is the chunk's capture start. How long it
    // takes to report "started" is the restart cost we show (the previous one still records then).
    const t = Date.now();
    startedAt = t;
    rec.onstart = () => {
      gaps.push(Date.now() - t);
      if (gaps.length > 120) gaps.shift();
    };
    rec.onstop = () => {
      if (!parts.length) return;
      recorded++;
      const type = rec.mimeType || mime;
      const write = sink.chunk(seq, { blob: new Blob(parts, { type }), type: type.replace(/\s+/g, ""), start: t });
      pendingWrites.add(write);
      void write.finally(() => pendingWrites.delete(write));
    };
    rec.start();
    return rec;
  }

  let current = start();
  const timer = setInterval(() => {
    if (!recording) return;
    const prev = current;
    current = start();
    if (prev.state !== "inactive") prev.stop();
  }, CHUNK_MS);

  return {
    format: "classic",
    label: mime,
    recorded: () => recorded,
    // Each chunk is about CHUNK_MS; MediaRecorder does not say more precisely.
    capturedMs: () => recorded * CHUNK_MS,
    gaps: () => [...gaps],
    async stop() {
      recording = false;
      clearInterval(timer);
      // A recorder stopped within moments of its start can write a file with no complete frame:
      // give the last chunk at least a few hundred milliseconds.
      const ranMs = Date.now() - startedAt;
      if (ranMs < 400) await new Promise((r) => setTimeout(r, 400 - ranMs));
      if (current.state !== "inactive") {
        await new Promise<void>((resolve) => {
          current.addEventListener("stop", () => setTimeout(resolve, 0), { once: true });
          current.stop();
        });
      }
      await Promise.allSettled([...pendingWrites]);
    },
  };
}
