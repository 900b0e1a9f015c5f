import { existsSync } from "node:fs";
import { AppError } from "../errors.ts";

/**
 * Finds ffmpeg in the documented order: explicit setting, the ffmpeg-static package's binary if
 * it was installed (it downloads at install time, which fails offline, so it is optional), then
 * `ffmpeg` on PATH (the distro package the ansible roles install).
 */
export async function locateFfmpeg(explicit: string | null): Promise<string> {
  if (explicit) {
    if (!existsSync(explicit)) throw new Error(`--ffmpeg: no file at ${explicit}`);
    return explicit;
  }
  try {
    const mod = (await import("ffmpeg" + "-static")) as { default?: string | null };
    if (mod.default && existsSync(mod.default)) return mod.default;
  } catch {
    // not installed: the normal case offline
  }
  const onPath = Bun.which("ffmpeg");
  if (onPath) return onPath;
  throw new Error("the worker role needs ffmpeg: install it (apt-get install ffmpeg) or set --ffmpeg / RTER_FFMPEG");
}

/** Runs `ffmpeg -version` with a timeout; returns the first line. */
export async function ffmpegVersion(path: string, timeoutMs = 5_000): Promise<string> {
  const proc = Bun.spawn([path, "-hide_banner", "-version"], { stdout: "pipe", stderr: "pipe", timeout: timeoutMs });
  const out = await new Response(proc.stdout).text();
  const code = await proc.exited;
  if (code !== 0) throw new AppError("unavailable", `ffmpeg at ${path} did not run (exit ${code})`);
  return out.split("\n")[0] ?? "";
}

/**
 * Finds ffprobe for a located ffmpeg: the sibling binary first, so a pinned ffmpeg gets the probe
 * of the same build (their JSON differs between versions), then `ffprobe` on PATH. ffmpeg-static
 * ships no ffprobe, which is why PATH is still consulted.
 */
export function locateFfprobe(ffmpegPath: string): string {
  const slash = ffmpegPath.lastIndexOf("/");
  if (slash >= 0) {
    const base = ffmpegPath.slice(slash + 1);
    const sibling = ffmpegPath.slice(0, slash + 1) + (base.startsWith("ffmpeg") ? "ffprobe" + base.slice("ffmpeg".length) : "ffprobe");
    if (existsSync(sibling)) return sibling;
  }
  const onPath = Bun.which("ffprobe");
  if (onPath) return onPath;
  throw new AppError("unavailable", `the worker role needs ffprobe next to ${ffmpegPath} or on PATH (apt-get install ffmpeg)`);
}
