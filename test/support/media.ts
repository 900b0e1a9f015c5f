import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Chunk kinds a reporter's device or an integrator may send. */
export type ChunkKind = "mp4-h264-aac" | "webm-vp8-opus" | "webm-h264-opus" | "ts-h264-aac";

const SPEC: Record<ChunkKind, { ext: string; contentType: string; args: string[] }> = {
  "mp4-h264-aac": {
    ext: "mp4",
    contentType: "video/mp4",
    args: ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mp4"],
  },
  "webm-vp8-opus": {
    ext: "webm",
    contentType: "video/webm",
    args: ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", "-c:a", "libopus", "-f", "webm"],
  },
  // What Chromium's MediaRecorder writes with video/webm;codecs=h264,opus: Matroska with H.264 + Opus.
  "webm-h264-opus": {
    ext: "webm",
    contentType: "video/webm;codecs=h264,opus",
    args: ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "libopus", "-f", "matroska"],
  },
  "ts-h264-aac": {
    ext: "ts",
    contentType: "video/mp2t",
    args: ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mpegts"],
  },
};

export function contentTypeOf(kind: ChunkKind): string {
  return SPEC[kind].contentType;
}

/**
 * n self-contained chunks of `seconds` each, cut from one continuous test pattern and tone, each
 * starting at t=0 with a key frame — as a recorder restarted per chunk produces them.
 */
export async function makeChunks(kind: ChunkKind, n: number, seconds = 1, size = "320x240"): Promise<Uint8Array<ArrayBuffer>[]> {
  const dir = mkdtempSync(join(tmpdir(), "rter-media-"));
  try {
    return await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const out = join(dir, `c${i}.${SPEC[kind].ext}`);
        const args = [
          "ffmpeg",
          "-v",
          "error",
          "-y",
          "-f",
          "lavfi",
          "-i",
          `testsrc2=size=${size}:rate=25:duration=${(i + 1) * seconds}`,
          "-f",
          "lavfi",
          "-i",
          `sine=frequency=${440 + i * 20}:sample_rate=48000:duration=${(i + 1) * seconds}`,
          "-ss",
          String(i * seconds),
          "-t",
          String(seconds),
          "-g",
          "25",
          "-keyint_min",
          "25",
          "-ac",
          "1",
          ...SPEC[kind].args,
          out,
        ];
        const p = Bun.spawn(args, { stderr: "pipe" });
        if ((await p.exited) !== 0) throw new Error(`ffmpeg failed making ${kind} chunk ${i}: ${await new Response(p.stderr).text()}`);
        return new Uint8Array(readFileSync(out));
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs ffprobe/ffmpeg and returns exit code, stdout and stderr. */
export async function run(args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn(args, { stdout: "pipe", stderr: "pipe", timeout: timeoutMs });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

export async function durationOf(bytes: Uint8Array, ext: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "rter-probe-"));
  try {
    const f = join(dir, `x.${ext}`);
    await Bun.write(f, bytes);
    const r = await run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", f]);
    return Number(r.stdout.trim());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
