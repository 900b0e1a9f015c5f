import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

/**
 * Issue 11.3 as a rule of the code base: uploaded bytes reach ffmpeg only through runFfmpeg
 * (core/media/ffmpeg.ts), which refuses argument lists whose inputs were not built by
 * inputArgs()/ownConcatInputArgs() (core/media/ffmpeg-args.ts). So no other server file may spawn
 * processes or write an `-i` itself.
 */
const ROOT = path.resolve(import.meta.dir, "../..");
const SERVER = ["app", "core", "workers", "cmd"];

/** Files allowed to start processes, and why. */
const SPAWNERS: Record<string, string> = {
  "core/media/ffmpeg.ts": "the one ffmpeg runner: pinned inputs and rlimits",
  "core/media/ffmpeg-locate.ts": "runs `ffmpeg -version` with no input to find the binary",
  "core/db/embedded-postgres.ts": "starts the embedded Postgres, no media",
  "core/evidence/tar.ts": "packs evidence exports with tar, no media demuxing",
};

function* sources(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) yield* sources(full);
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) yield full;
  }
}

const files = SERVER.flatMap((d) => [...sources(path.join(ROOT, d))]).map((f) => ({ rel: path.relative(ROOT, f), text: readFileSync(f, "utf8") }));

test("only the runner (and two media-free helpers) start processes", () => {
  const spawning = files.filter((f) => /\bBun\.spawn(Sync)?\s*\(|node:child_process|\bBun\.\$`/.test(f.text)).map((f) => f.rel);
  expect(spawning.sort()).toEqual(Object.keys(SPAWNERS).sort());
});

test("no server file but the argument builders writes an ffmpeg input flag", () => {
  const writing = files.filter((f) => f.rel !== "core/media/ffmpeg-args.ts" && /["'`]-i["'`]/.test(f.text)).map((f) => f.rel);
  expect(writing).toEqual([]);
});

test("the runner checks every argument list before spawning", () => {
  const runner = files.find((f) => f.rel === "core/media/ffmpeg.ts")!.text;
  const spawnAt = runner.indexOf("Bun.spawn(");
  const checkAt = runner.indexOf("assertPinnedInputs(args)");
  expect(checkAt).toBeGreaterThan(0);
  expect(checkAt).toBeLessThan(spawnAt);
  expect(runner.match(/Bun\.spawn\(/g)).toHaveLength(1);
});
