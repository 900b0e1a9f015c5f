// The MediaRecorder path, for browsers without WebCodecs: self-contained 1 s chunks, a new
// MediaRecorder per chunk (so each one starts with a key frame), the next one started before the
// previous one stops so the two overlap by a few ms and never leave a hole.
// A chunk's seq is taken when it is known to hold media (in start order), not at its start: a
// recorder that got no frame gives nothing to send, and must not leave a seq the server waits for.

export const CHUNK_MS = 1_000;
/** How long a stopped chunk waits for its predecessor's stop to be handled before it goes ahead. */
const TURN_WAIT_MS = 10_000;

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

const EBML_ID = [0x1a, 0x45, 0xdf, 0xa3];

/**
 * False for a Matroska/WebM recording that is nothing but an EBML header and zero bytes: no
 * Segment, so no media. Chromium's MediaRecorder, stopped before its muxer got a first encoded
 * frame (a restart on a starved phone or machine), writes exactly that: a 36-byte EBML header of
 * DocType "webm" (even for video/x-matroska) and 74 zero bytes, 110 in all; the server could only
 * refuse it. Anything else is left for the server to judge: a zero byte cannot start an element,
 * so no readable file is dropped here. `head` is the start of the file (64 bytes are plenty).
 */
export function holdsMedia(head: Uint8Array): boolean {
  if (head.length < 5 || EBML_ID.some((x, i) => head[i] !== x) || head[4] === 0) return true;
  const len = Math.clz32(head[4]!) - 23;
  let size = head[4]! & (0xff >> len);
  for (let i = 1; i < len; i++) size = size * 256 + (head[4 + i] ?? 0);
  const at = 4 + len + size;
  if (at >= head.length) return true;
  return head.subarray(at).some((x) => x !== 0);
}

export function startClassicRecorder(media: MediaStream, mime: string, low: boolean, sink: ChunkSink): Recorder {
  let recording = true;
  let recorded = 0;
  const gaps: number[] = [];
  let startedAt = 0;
  const pendingWrites = new Set<Promise<void>>();

  // The chunks' stop handlers run one after the other in start order, so seqs follow capture order.
  let turn: Promise<void> = Promise.resolve();

  function start(): MediaRecorder {
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
    const before = turn;
    let release!: () => void;
    turn = new Promise<void>((r) => (release = r));
    rec.onstop = () => {
      const type = rec.mimeType || mime;
      const blob = new Blob(parts, { type });
      // Bounded: a predecessor whose stop never comes must not hold every later chunk out of the outbox.
      const write = Promise.race([before, new Promise((r) => setTimeout(r, TURN_WAIT_MS))])
        .then(async () => {
          if (!blob.size) return;
          if (!holdsMedia(new Uint8Array(await blob.slice(0, 64).arrayBuffer()))) {
            console.warn("recorder: a chunk with no frame is dropped", blob.size);
            return;
          }
          recorded++;
          await sink.chunk(sink.nextSeq(), { blob, type: type.replace(/\s+/g, ""), start: t });
        })
        .finally(release);
      pendingWrites.add(write);
      void write.catch((e) => console.error("recorder: chunk not kept", e)).finally(() => pendingWrites.delete(write));
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
