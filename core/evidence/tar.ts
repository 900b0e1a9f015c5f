import { AppError } from "../errors.ts";

/**
 * Debian's GNU tar, run as a child with pinned arguments, writes the package. Why not an npm tar
 * library: tar is an essential package on every Debian host this runs on (nothing to install or
 * to bundle into the binary), it is the very tool a defense expert will extract the package with,
 * and with these flags its output does not depend on the host (owner, umask, file order, times).
 * pax format: no 8 GiB limit per file (long recordings) and no 100-byte name limit.
 */
export function tarArgs(dir: string, top: string, mtimeSeconds: number): string[] {
  return [
    "--create",
    "--file=-",
    "--format=pax",
    // No per-file atime/ctime records: the archive depends only on names, contents and mtime.
    "--pax-option=delete=atime,delete=ctime",
    "--sort=name",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "--mode=a=rX,u+w",
    `--mtime=@${Math.floor(mtimeSeconds)}`,
    `--directory=${dir}`,
    "--",
    top,
  ];
}

/**
 * Starts tar and hands back its output as a stream. The process is killed on abort or after
 * `timeoutMs`; `done` rejects with the first line of tar's complaint when it fails.
 */
export function runTar(
  args: string[],
  opts: { timeoutMs: number; signal?: AbortSignal; bin?: string },
): { stdout: ReadableStream<Uint8Array>; done: Promise<void> } {
  const proc = Bun.spawn([opts.bin ?? "tar", ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const kill = () => proc.kill("SIGKILL");
  const timer = setTimeout(kill, opts.timeoutMs);
  opts.signal?.addEventListener("abort", kill, { once: true });
  const done = (async () => {
    const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", kill);
    if (code !== 0) throw new AppError("internal", `tar failed (exit ${code}): ${err.split("\n")[0] || "killed"}`);
  })();
  return { stdout: proc.stdout, done };
}
