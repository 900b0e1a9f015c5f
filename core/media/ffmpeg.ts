import { assertPinnedInputs } from "./ffmpeg-args.ts";
import { MediaError } from "./media-error.ts";

export type { MediaInfo } from "./media-info.ts";

/** How much of stderr survives: enough for ffmpeg's last complaint, bounded against a chatty decoder. */
const STDERR_TAIL_BYTES = 4096;

export interface RunOptions {
  /** The child is SIGKILLed after this long and the call rejects with `unavailable`. */
  timeoutMs: number;
  /** Aborting kills the child the same way (a worker shutting down, a job cancelled). */
  signal?: AbortSignal;
  /** Memory and CPU caps of the child; DEFAULT_RESOURCE_LIMITS when absent. */
  limits?: ResourceLimits;
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

/**
 * What one ffmpeg run may use, enforced by the kernel (setrlimit via util-linux `prlimit`): a
 * hostile chunk that slips past the in-process checks costs at most this much, and is refused.
 */
export interface ResourceLimits {
  /** RLIMIT_AS: address space. 1080p VP8→H.264 needs ~700 MiB here, 4K under 1 GiB. */
  memoryBytes: number;
  /** RLIMIT_CPU in seconds (user + system, all threads). */
  cpuSec: number;
}

export const DEFAULT_RESOURCE_LIMITS: ResourceLimits = Object.freeze({ memoryBytes: 2 * 1024 ** 3, cpuSec: 120 });

const PRLIMIT = Bun.which("prlimit");

/** argv that runs `bin args` under `limits`; without prlimit, the shell's ulimit does the same. */
export function limitedArgv(bin: string, args: string[], limits: ResourceLimits): string[] {
  const as = Math.max(1, Math.floor(limits.memoryBytes));
  const cpu = Math.max(1, Math.ceil(limits.cpuSec));
  // Soft CPU limit sends SIGXCPU (ffmpeg stops cleanly); the hard one a second later kills.
  if (PRLIMIT) return [PRLIMIT, `--as=${as}`, `--cpu=${cpu}:${cpu + 1}`, "--", bin, ...args];
  return ["/bin/sh", "-c", `ulimit -v ${Math.floor(as / 1024)} && ulimit -t ${cpu} && exec "$0" "$@"`, bin, ...args];
}

const ALLOC_FAILED = /Cannot allocate memory|malloc of size \d+ failed|Out of memory|std::bad_alloc|failed to map segment/i;

/** Spawns a tool with a hard deadline and rlimits. Exit 0 resolves; anything else rejects with a MediaError. */
async function runTool(bin: string, args: string[], opts: RunOptions & { stdout?: boolean }): Promise<ToolResult> {
  const name = (bin.split("/").pop() ?? bin).replace(/[^\w.-]/g, "");
  // Every input named with its demuxer and limited to a local file: checked here, where all runs pass.
  try {
    assertPinnedInputs(args);
  } catch (e) {
    throw new MediaError("internal", `refused to start ${name}: ${(e as Error).message}`, { cause: e });
  }
  if (opts.signal?.aborted) throw new MediaError("unavailable", `${name} was not started: the job was cancelled`);
  const limits = opts.limits ?? DEFAULT_RESOURCE_LIMITS;
  const t0 = performance.now();
  let proc: ReturnType<typeof Bun.spawn>;
  try {
    proc = Bun.spawn(limitedArgv(bin, args, limits), { stdin: "ignore", stdout: opts.stdout ? "pipe" : "ignore", stderr: "pipe" });
  } catch (e) {
    throw new MediaError("unavailable", `${name} could not be started`, { cause: e, stderrTail: (e as Error).message });
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
    if (code === 0 && !proc.signalCode) return { stdout, stderr, ms, cpuMs };
    // Past its CPU allowance: SIGXCPU (ffmpeg exits on it) or the hard limit's SIGKILL.
    if (proc.signalCode === "SIGXCPU" || /received signal 24/.test(stderr) || (cpuMs !== undefined && cpuMs >= limits.cpuSec * 1000 * 0.98)) {
      throw new MediaError("unprocessable", `processing this chunk needs more than ${limits.cpuSec} s of CPU`, { stderrTail: stderr });
    }
    // Under RLIMIT_AS an allocation fails (or the process dies on it) long before the machine runs out.
    if (ALLOC_FAILED.test(stderr) || proc.signalCode === "SIGSEGV" || proc.signalCode === "SIGABRT" || proc.signalCode === "SIGBUS") {
      throw new MediaError("unprocessable", `processing this chunk needs more than ${Math.round(limits.memoryBytes / 1024 ** 2)} MiB of memory`, {
        stderrTail: stderr,
      });
    }
    if (proc.signalCode) throw new MediaError("unavailable", `${name} was killed by ${proc.signalCode}`, { stderrTail: stderr });
    // prlimit (or sh) could not exec the tool: missing or not executable.
    if (code === 126 || code === 127) throw new MediaError("unavailable", `${name} could not be started`, { stderrTail: stderr });
    // A full disk is the machine's problem, not the chunk's: let the queue retry it.
    const ours = /No space left on device/i.test(stderr);
    throw new MediaError(ours ? "unavailable" : "unprocessable", `${name} could not read or convert the media (exit ${code})`, { stderrTail: stderr });
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
  }
}

/** Runs ffmpeg. Rejects `unprocessable` when it refuses the input or breaks its limits, `unavailable` when it was killed. */
export async function runFfmpeg(bin: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const { stdout: _, ...r } = await runTool(bin, args, opts);
  return r;
}

/** Where a file's packets start and end on its own timeline, in seconds, over all streams. */
export interface PacketSpan {
  startSec: number;
  endSec: number;
  /** How many packets (PES, when read in-process) were seen; never 0. */
  packets: number;
}
