import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ALL_FORMATS, BufferSource, EncodedPacketSink, Input } from "mediabunny";
import { parseFragments, parseInit } from "../../core/media/fmp4.ts";
import { run } from "../../test/support/media.ts";
import { buildInit, CmafPackager, type CmafFragment } from "./cmaf-packager.ts";
import { boxes, readInitTracks } from "./fmp4.ts";

// The packager fed what WebCodecs would give it — H.264 (avc) and Opus packets with their decoder
// configurations — here read by mediabunny from a file ffmpeg encoded, with key frames exactly
// where plan() asks for them. Its output is checked by ffprobe and decoded by ffmpeg.

const FPS = 25;
const SECONDS = 6;
// plan() at 25 fps: a cut every 7 frames (280 ms ≥ 250 ms), a key frame at every 4th cut (1.12 s).
const KEY_EVERY = 28;

async function encodedPackets(dir: string) {
  const src = join(dir, "src.mp4");
  const r = await run([
    "ffmpeg",
    "-v",
    "error",
    "-y",
    "-f",
    "lavfi",
    "-i",
    `testsrc2=size=320x240:rate=${FPS}:duration=${SECONDS}`,
    "-f",
    "lavfi",
    "-i",
    `sine=frequency=440:sample_rate=48000:duration=${SECONDS}`,
    "-c:v",
    "libx264",
    "-profile:v",
    "baseline",
    "-preset",
    "ultrafast",
    "-pix_fmt",
    "yuv420p",
    "-g",
    "1000",
    "-sc_threshold",
    "0",
    "-force_key_frames",
    `expr:eq(mod(n,${KEY_EVERY}),0)`,
    "-c:a",
    "libopus",
    "-ac",
    "1",
    "-b:a",
    "48k",
    src,
  ]);
  if (r.code !== 0) throw new Error(r.stderr);
  const input = new Input({ source: new BufferSource(readFileSync(src)), formats: ALL_FORMATS });
  const vt = (await input.getPrimaryVideoTrack())!;
  const at = (await input.getPrimaryAudioTrack())!;
  const read = async (t: typeof vt | typeof at) => {
    const out = [];
    for await (const p of new EncodedPacketSink(t).packets())
      out.push({ timestampUs: Math.round(p.timestamp * 1e6), durationUs: Math.round(p.duration * 1e6), key: p.type === "key", data: p.data });
    return out;
  };
  return { videoConfig: (await vt.getDecoderConfig())!, audioConfig: (await at.getDecoderConfig())!, video: await read(vt), audio: await read(at) };
}

describe("CMAF packager", () => {
  test("init + quarter-second fragments from continuous encoder output: ffmpeg decodes them, decode times continue across every fragment, planned key frames start independent parts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rter-cmaf-"));
    try {
      const src = await encodedPackets(dir);
      const { init, video, audio } = await buildInit(src.videoConfig, src.audioConfig);
      expect(boxes(init).map((b) => b.type)).toEqual(["ftyp", "moov"]);
      expect(audio).not.toBeNull();
      const fragments: CmafFragment[] = [];
      const p = new CmafPackager((f) => fragments.push(f));
      // The page's order: plan a frame, encode it, outputs arrive interleaved with audio. Camera
      // timestamps do not start at 0; shift both tracks by the same offset.
      const offset = 123_456_789;
      const planned: boolean[] = [];
      let ai = 0;
      for (const v of src.video) {
        planned.push(p.plan(v.timestampUs + offset).keyFrame);
        p.addVideo({ ...v, timestampUs: v.timestampUs + offset });
        while (ai < src.audio.length && src.audio[ai]!.timestampUs <= v.timestampUs + 60_000) {
          const a = src.audio[ai++]!;
          p.addAudio({ ...a, timestampUs: a.timestampUs + offset });
        }
      }
      expect(planned.flatMap((k, i) => (k ? [i] : []))).toEqual(src.video.flatMap((v, i) => (v.key ? [i] : [])));
      // The init is ready only now (mediabunny needs the encoders' first output): nothing left before.
      expect(fragments).toEqual([]);
      p.setTracks({ video, audio });
      expect(fragments.length).toBeGreaterThan(10);
      while (ai < src.audio.length) p.addAudio({ ...src.audio[ai]!, timestampUs: src.audio[ai++]!.timestampUs + offset });
      p.flush();

      // Cut every 7 frames: 280 ms each (the last one shorter), an independent part every 4th.
      expect(fragments.length).toBe(Math.ceil((SECONDS * FPS) / 7));
      expect(fragments.slice(0, -1).every((f) => Math.abs(f.durationUs - 280_000) < 1_000)).toBe(true);
      expect(fragments.map((f) => f.independent)).toEqual(fragments.map((_, i) => i % 4 === 0));
      expect(fragments[0]!.startUs).toBe(0);
      for (let i = 1; i < fragments.length; i++) expect(fragments[i]!.startUs).toBe(fragments[i - 1]!.startUs + fragments[i - 1]!.durationUs);

      // Each fragment: one moof + mdat, both tracks, tfdt of each track where the previous ended.
      const next = new Map<number, number>();
      for (const f of fragments) {
        expect(boxes(f.bytes).map((b) => b.type)).toEqual(["moof", "mdat"]);
        const probe = readTrafs(f.bytes);
        expect(probe.map((t) => t.trackId).sort()).toEqual([video.id, audio!.id].sort());
        for (const t of probe) {
          if (next.has(t.trackId)) expect(t.tfdt).toBe(next.get(t.trackId)!);
          next.set(t.trackId, t.tfdt + t.durations.reduce((a, b) => a + b, 0));
        }
      }
      // The server's own in-process validator takes the init and every fragment, each continuing the last.
      const serverInit = parseInit(init);
      if (!serverInit.ok) throw new Error(`server refuses the init: ${serverInit.detail}`);
      expect(serverInit.tracks.map((t) => t.kind).sort()).toEqual(["audio", "video"]);
      const ends = new Map<number, number>();
      for (const [i, f] of fragments.entries()) {
        const info = parseFragments(f.bytes, serverInit);
        if (!info.ok) throw new Error(`server refuses fragment ${i}: ${info.fault} ${info.detail}`);
        for (const t of info.tracks) {
          if (ends.has(t.id)) expect(t.baseDecodeTime).toBe(ends.get(t.id)!);
          ends.set(t.id, t.baseDecodeTime + t.duration);
          if (t.id === video.id) expect(t.firstSampleIsKey).toBe(f.independent);
        }
      }
      const total = SECONDS * FPS * (video.timescale / FPS);
      expect(next.get(video.id)).toBe(total);

      // init + fragments in order is a fragmented MP4 ffmpeg decodes without a word, as long as the source.
      const file = join(dir, "out.mp4");
      writeFileSync(file, Buffer.concat([init, ...fragments.map((f) => f.bytes)]));
      const dec = await run(["ffmpeg", "-v", "error", "-i", file, "-f", "null", "-"]);
      expect(dec.stderr.trim()).toBe("");
      expect(dec.code).toBe(0);
      const pr = await run([
        "ffprobe",
        "-v",
        "error",
        "-count_frames",
        "-show_entries",
        "stream=codec_name,nb_read_frames:format=duration",
        "-of",
        "json",
        file,
      ]);
      const info = JSON.parse(pr.stdout) as { streams: { codec_name: string; nb_read_frames: string }[]; format: { duration: string } };
      expect(info.streams.map((s) => s.codec_name).sort()).toEqual(["h264", "opus"]);
      expect(Number(info.streams.find((s) => s.codec_name === "h264")!.nb_read_frames)).toBe(SECONDS * FPS);
      expect(Math.abs(Number(info.format.duration) - SECONDS)).toBeLessThan(0.1);
      // Each part alone after the init (what a player fetches) decodes too.
      const part = join(dir, "part.mp4");
      writeFileSync(part, Buffer.concat([init, fragments[4]!.bytes]));
      expect((await run(["ffmpeg", "-v", "error", "-i", part, "-f", "null", "-"])).stderr.trim()).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  test("video without audio; an encoder's own key frame starts a part; audio lagging behind holds the fragment until it passes the cut", () => {
    const video = { id: 1, kind: "video" as const, timescale: 90_000 };
    const audio = { id: 2, kind: "audio" as const, timescale: 48_000 };
    const frame = (i: number, key = false) => ({ timestampUs: 5_000_000 + i * 40_000, durationUs: 40_000, key, data: new Uint8Array([i]) });

    const alone: CmafFragment[] = [];
    const p = new CmafPackager((f) => alone.push(f));
    p.setTracks({ video, audio: null });
    for (let i = 0; i < 20; i++) {
      const planned = p.plan(frame(i).timestampUs).keyFrame;
      // Frames 9 and 12 are key frames the encoder chose (scene changes), not planned ones.
      p.addVideo(frame(i, planned || i === 9 || i === 12));
      p.addAudio({ timestampUs: frame(i).timestampUs, durationUs: 20_000, key: true, data: new Uint8Array([1]) });
    }
    p.flush();
    // Planned cuts at frames 0, 7, 14. The key frame at 9 comes 80 ms into a part: too soon to
    // start one; the one at 12 does (200 ms), and the planned cut at 14 then waits (80 ms).
    expect(alone.map((f) => Math.round(f.startUs / 40_000))).toEqual([0, 7, 12]);
    expect(alone.map((f) => f.independent)).toEqual([true, false, true]);
    expect(alone.every((f, i) => i === alone.length - 1 || f.durationUs >= 200_000)).toBe(true);
    for (const f of alone) expect(readTrafIds(f.bytes)).toEqual([1]);

    const held: CmafFragment[] = [];
    const q = new CmafPackager((f) => held.push(f));
    q.setTracks({ video, audio });
    for (let i = 0; i < 15; i++) {
      q.plan(frame(i).timestampUs);
      q.addVideo(frame(i, i === 0));
    }
    // Two cuts made (frames 7 and 14), but no audio yet: nothing can leave without its audio.
    expect(held.length).toBe(0);
    for (let t = 5_000_000; t <= 5_000_000 + 7 * 40_000; t += 20_000) q.addAudio({ timestampUs: t, durationUs: 20_000, key: true, data: new Uint8Array([2]) });
    expect(held.length).toBe(1);
    expect(readTrafIds(held[0]!.bytes)).toEqual([1, 2]);
  });

  test("readInitTracks refuses a segment without moov", () => {
    expect(() => readInitTracks(new Uint8Array([0, 0, 0, 8, 0x66, 0x74, 0x79, 0x70]))).toThrow(/moov/);
  });
});

/** tfdt and sample durations per traf, read back with the same box walker. */
function readTrafs(bytes: Uint8Array): { trackId: number; tfdt: number; durations: number[] }[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const moof = boxes(bytes)[0]!;
  return boxes(bytes, moof.body, moof.end)
    .filter((b) => b.type === "traf")
    .map((traf) => {
      const kids = boxes(bytes, traf.body, traf.end);
      const tfhd = kids.find((k) => k.type === "tfhd")!;
      const tfdt = kids.find((k) => k.type === "tfdt")!;
      const trun = kids.find((k) => k.type === "trun")!;
      const flags = v.getUint32(trun.body) & 0xffffff;
      const n = v.getUint32(trun.body + 4);
      const per = 4 * [0x100, 0x200, 0x400, 0x800].filter((f) => flags & f).length;
      const first = trun.body + 8 + (flags & 1 ? 4 : 0) + (flags & 4 ? 4 : 0);
      return {
        trackId: v.getUint32(tfhd.body + 4),
        tfdt: Number(v.getBigUint64(tfdt.body + 4)),
        durations: Array.from({ length: n }, (_, i) => v.getUint32(first + i * per)),
      };
    });
}

function readTrafIds(bytes: Uint8Array): number[] {
  return readTrafs(bytes).map((t) => t.trackId);
}
