import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, statSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { segmentArgs } from "../../core/media/ffmpeg-args.ts";
import { runFfmpeg } from "../../core/media/ffmpeg.ts";
import { locateFfmpeg } from "../../core/media/ffmpeg-locate.ts";
import { MediaError } from "../../core/media/media-error.ts";
import type { ProbeContainer } from "../../core/media/probe/chunk-probe.ts";
import { makeSegment } from "../../core/media/segment.ts";
import { sniffMatches, type Container } from "../../core/streams/container.ts";

/**
 * Issue 11.3: uploaded bytes that are really a playlist, a concat script or an SDP, naming
 * another stored chunk. With the demuxer picked from the content, ffmpeg opens that chunk; with
 * the demuxer pinned from the declared container (and only local files allowed), nothing else
 * is read. "Read" is seen on the victim's access time, set two days back before each run.
 */
setDefaultTimeout(60_000);

let FFMPEG = "";
let dir = "";
let victim = "";
beforeAll(async () => {
  FFMPEG = await locateFfmpeg(null);
  dir = mkdtempSync(path.join(tmpdir(), "rter-pinned-"));
  victim = path.join(dir, "another-reporters-chunk.ts");
  const p = Bun.spawn([
    FFMPEG,
    "-v",
    "error",
    "-y",
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=64x64:rate=25:duration=1",
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-f",
    "mpegts",
    victim,
  ]);
  expect(await p.exited).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function untouch(): void {
  const s = statSync(victim);
  utimesSync(victim, new Date(s.mtimeMs - 2 * 86_400_000), new Date(s.mtimeMs));
}
const wasRead = () => statSync(victim).atimeMs > statSync(victim).mtimeMs;

const PAYLOADS: Record<string, () => string> = {
  "HLS playlist": () => `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1,\nfile:${victim}\n#EXT-X-ENDLIST\n`,
  "concat script": () => `ffconcat version 1.0\nfile '${victim}'\n`,
  SDP: () => `v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 5004 RTP/AVP 96\na=rtpmap:96 H264/90000\n`,
};

/** The first bytes each upload sniff wants, so the disguise passes the door (415 otherwise). */
const DRESS: Record<Container, Uint8Array> = {
  mp4: new Uint8Array([0, 0, 0, 16, ...new TextEncoder().encode("ftypisom"), 0, 0, 0, 0, 10]),
  webm: new Uint8Array([0x1a, 0x45, 0xdf, 0xa3, 0x80, 10]),
  matroska: new Uint8Array([0x1a, 0x45, 0xdf, 0xa3, 0x80, 10]),
  mpegts: new Uint8Array([0x47, 10]),
};
const PROBE: Record<Container, ProbeContainer> = { mp4: "mp4", webm: "matroska", matroska: "matroska", mpegts: "mpegts" };

function dressed(c: Container, body: string): Uint8Array {
  const text = new TextEncoder().encode(body);
  if (c !== "mpegts") return Buffer.concat([DRESS[c], text]);
  // TS is sniffed on sync bytes at 0 and 188: put the text between them, and pad past 188.
  const b = new Uint8Array(Math.max(400, text.length + 200)).fill(10);
  b[0] = 0x47;
  b.set(text, 2);
  b[188] = 0x47;
  return b;
}

test("control: with the demuxer picked from the content, the playlist and the concat script make ffmpeg read the other chunk", async () => {
  for (const name of ["HLS playlist", "concat script"]) {
    const f = path.join(dir, `control-${name.replace(/\W/g, "")}`);
    await Bun.write(f, PAYLOADS[name]!());
    untouch();
    const p = Bun.spawn([FFMPEG, "-v", "error", "-y", "-safe", "0", "-i", f, "-c", "copy", "-f", "mpegts", `${f}.out.ts`], { stderr: "pipe" });
    await p.exited;
    expect({ name, read: wasRead() }).toEqual({ name, read: true });
  }
});

describe.each(Object.keys(PAYLOADS))("%s", (name) => {
  for (const c of ["mp4", "webm", "mpegts"] as const) {
    for (const disguise of ["dressed", "bare"] as const) {
      test(`${disguise} as ${c}: refused, nothing else read`, async () => {
        const bytes = disguise === "dressed" ? dressed(c, PAYLOADS[name]!()) : new TextEncoder().encode(PAYLOADS[name]!());
        if (disguise === "dressed") expect(sniffMatches(c, bytes.subarray(0, 189))).toBe(true);
        const input = path.join(dir, `in-${name.replace(/\W/g, "")}-${c}-${disguise}`);
        const output = `${input}.ts`;
        await Bun.write(input, bytes);

        // The segment step: refused by the in-process probe, before any ffmpeg.
        untouch();
        let err: unknown;
        await makeSegment({ ffmpeg: "/nonexistent/ffmpeg", container: PROBE[c], input, output, offsetSec: 0, timeoutMs: 10_000 }).catch((e) => (err = e));
        expect(err).toBeInstanceOf(MediaError);
        expect((err as MediaError).code).toBe("unprocessable");
        expect(wasRead()).toBe(false);

        // And ffmpeg itself, pinned as every run is, given the same bytes directly.
        untouch();
        const info = { container: PROBE[c], durationSec: 1, video: { codec: "h264", width: 64, height: 64 } };
        const ran = await runFfmpeg(FFMPEG, segmentArgs({ input, container: PROBE[c], output, info, offsetSec: 0 }), { timeoutMs: 20_000 }).then(
          () => "made a segment",
          (e: MediaError) => e.code,
        );
        expect(ran).toBe("unprocessable");
        expect(wasRead()).toBe(false);
        expect(await Bun.file(output).exists()).toBe(false);
      });
    }
  }
});
