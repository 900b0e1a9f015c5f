import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { locateFfprobe } from "./ffmpeg-locate.ts";

const dir = mkdtempSync(path.join(tmpdir(), "rter-locate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("ffprobe is taken from beside ffmpeg, keeping a version suffix", () => {
  for (const n of ["ffmpeg", "ffprobe", "ffmpeg-6.1", "ffprobe-6.1"]) writeFileSync(path.join(dir, n), "");
  expect(locateFfprobe(path.join(dir, "ffmpeg"))).toBe(path.join(dir, "ffprobe"));
  expect(locateFfprobe(path.join(dir, "ffmpeg-6.1"))).toBe(path.join(dir, "ffprobe-6.1"));
});

test("without a sibling, PATH's ffprobe is used", () => {
  const onPath = Bun.which("ffprobe");
  if (!onPath) return; // nothing to compare against on a box without ffmpeg
  expect(locateFfprobe("/nowhere/ffmpeg")).toBe(onPath);
});
