import { MediaError } from "./media-error.ts";
import { parseProbeJson, type MediaInfo } from "./media-info.ts";

export { locateFfprobe } from "./ffmpeg-locate.ts";
export type { MediaInfo } from "./media-info.ts";

/** How much of stderr survives: enough for ffmpeg's last complaint, bounded against a chatty decoder. */
const STDERR_TAIL_BYTES = 4096;

export interface RunOptions {
  /** The child is SIGKILLed after this long and the call rejects with `unavailable`. */
  timeoutMs: number;
  /** Aborting kills the child the same way (a worker shutting down, a job cancelled). */
  signal?: AbortSignal;
}

export interface RunResult {
  stderr: string;
  /** Wall-clock time of the child. */
  ms: number;
  /** User + system CPU of the child, when the runtime reports it. */
  cpuMs?: number;
}

interface ToolResult extends RunResult {
  stdout: string;
}

async function tail(stream: ReadableStream<Uint8Array>, limit: number): Promise<string> {
  let kept: Uint8Array[] = [];
  let size = 0;
  for await (const c of stream) {
    kept.push(c);
    size += c.byteLength;
    // Compact only now and then, so a long run costs O(bytes) rather than O(bytes × chunks).
    if (size > limit * 4) {
      const all = Buffer.concat(kept);
      kept = [all.subarray(all.byteLength - limit)];
      size = limit;
    }
  }
  const all = Buffer.concat(kept);
  return new TextDecoder().decode(all.subarray(Math.max(0, all.byteLength - limit)));
}

/** Spawns a tool with a hard deadline. Exit 0 resolves; anything else rejects with a MediaError. */
async function runTool(bin: string, args: string[], opts: RunOptions & { stdout?: boolean }): Promise<ToolResult> {
  const name = bin.split("/").pop() ?? bin;
  if (opts.signal?.aborted) throw new MediaError("unavailable", `${name} was not started: the job was cancelled`);
  const t0 = performance.now();
  let proc: ReturnType<typeof Bun.spawn>;
  try {
    proc = Bun.spawn([bin, ...args], { stdin: "ignore", stdout: opts.stdout ? "pipe" : "ignore", stderr: "pipe" });
  } catch (e) {
    throw new MediaError("unavailable", `${name} could not be started: ${(e as Error).message}`, { cause: e });
  }
  let killedBy: "timeout" | "abort" | null = null;
  const kill = (why: "timeout" | "abort") => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    killedBy ??= why;
    proc.kill("SIGKILL");
  };
  const timer = setTimeout(() => kill("timeout"), Math.max(1, opts.timeoutMs));
  const onAbort = () => kill("abort");
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const [stdout, stderr, code] = await Promise.all([
      opts.stdout ? new Response(proc.stdout as ReadableStream<Uint8Array>).text() : Promise.resolve(""),
      tail(proc.stderr as ReadableStream<Uint8Array>, STDERR_TAIL_BYTES),
      proc.exited,
    ]);
    const ms = Math.round(performance.now() - t0);
    const usage = proc.resourceUsage();
    const cpuMs = usage ? Number(usage.cpuTime.total) / 1000 : undefined;
    if (killedBy === "timeout") throw new MediaError("unavailable", `${name} timed out after ${opts.timeoutMs} ms and was killed`, { stderrTail: stderr });
    if (killedBy === "abort") throw new MediaError("unavailable", `${name} was killed: the job was cancelled`, { stderrTail: stderr });
    if (proc.signalCode) throw new MediaError("unavailable", `${name} was killed by ${proc.signalCode} (out of memory?)`, { stderrTail: stderr });
    if (code !== 0) {
      // A full disk is the machine's problem, not the chunk's: let the queue retry it.
      const ours = /No space left on device|Cannot allocate memory/i.test(stderr);
      throw new MediaError(ours ? "unavailable" : "unprocessable", `${name} rejected the input (exit ${code})`, { stderrTail: stderr });
    }
    return { stdout, stderr, ms, cpuMs };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
  }
}

/** Runs ffmpeg. Rejects `unprocessable` when it refuses the input, `unavailable` when it was killed. */
export async function runFfmpeg(bin: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const { stdout: _, ...r } = await runTool(bin, args, opts);
  return r;
}

/** ffprobe's view of a file, as our MediaInfo. A file ffprobe cannot read is `unprocessable`. */
export async function probe(ffprobeBin: string, file: string, timeoutMs: number, signal?: AbortSignal, opts: { packets?: boolean } = {}): Promise<MediaInfo & { span?: PacketSpan | null }> {
  // With packets, the same run also lists packet timestamps: one process instead of two for files
  // that declare no duration (live-written WebM), each ffprobe start costing ~70 ms of CPU here.
  const packets = opts.packets ? ["-show_entries", PACKET_ENTRIES] : [];
  const args = ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", ...packets, file];
  let out: string;
  try {
    out = (await runTool(ffprobeBin, args, { timeoutMs, signal, stdout: true })).stdout;
  } catch (e) {
    if (e instanceof MediaError && e.code === "unprocessable") {
      throw new MediaError("unprocessable", "not a media file ffprobe can read (truncated or not audio/video)", { stderrTail: e.stderrTail, cause: e });
    }
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(out);
  } catch (e) {
    throw new MediaError("internal", "ffprobe printed something that is not JSON", { cause: e, stderrTail: out.slice(-STDERR_TAIL_BYTES) });
  }
  const info: MediaInfo & { span?: PacketSpan | null } = parseProbeJson(json);
  if (opts.packets) info.span = spanOf(json as PacketJson);
  return info;
}

/** Where a file's packets start and end on its own timeline, in seconds, over all streams. */
export interface PacketSpan {
  startSec: number;
  endSec: number;
  /** How many packets (PES, when read in-process) were seen; never 0. */
  packets: number;
}

/**
 * Reads packet timestamps without decoding: the exact extent of a file (end = last pts + its
 * duration), which the container's duration field only estimates. Cheap: demux only.
 */
export async function probePacketSpan(ffprobeBin: string, file: string, timeoutMs: number, signal?: AbortSignal): Promise<PacketSpan | null> {
  const args = ["-v", "error", "-print_format", "json", "-show_entries", `stream=index,time_base:${PACKET_ENTRIES}`, file];
  const { stdout } = await runTool(ffprobeBin, args, { timeoutMs, signal, stdout: true });
  return spanOf(JSON.parse(stdout) as PacketJson);
}

const PACKET_ENTRIES = "packet=stream_index,pts,dts,duration";

interface PacketJson {
  streams?: { index: number; time_base?: string }[];
  packets?: { stream_index: number; pts?: number; dts?: number; duration?: number }[];
}

/** First pts to last pts + duration over every stream, in seconds; null without packets. */
function spanOf(j: PacketJson): PacketSpan | null {
  const tb = new Map<number, number>();
  for (const s of j.streams ?? []) {
    const m = /^(\d+)\/(\d+)$/.exec(s.time_base ?? "");
    if (m) tb.set(s.index, Number(m[1]) / Number(m[2]));
  }
  let start = Infinity;
  let end = -Infinity;
  let packets = 0;
  for (const p of j.packets ?? []) {
    const unit = tb.get(p.stream_index);
    const t = p.pts ?? p.dts;
    if (unit === undefined || t === undefined) continue;
    packets++;
    start = Math.min(start, t * unit);
    end = Math.max(end, (t + (p.duration ?? 0)) * unit);
  }
  return packets ? { startSec: start, endSec: end, packets } : null;
}
