import { join } from "node:path";
import { ROOT } from "../../support/rter-process.ts";

export const ANSIBLE_DIR = join(ROOT, "deploy/ansible");

export interface HostRecap {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
}

export interface PlaybookRun {
  code: number;
  output: string;
  recap: Record<string, HostRecap>;
  /** "host: task name" of every task that reported changed. */
  changedTasks: string[];
  ms: number;
}

/**
 * Runs ansible-playbook from an ansible directory (deploy/ansible, or the ansible/ of an unpacked
 * release bundle) so its ansible.cfg applies, and parses the recap.
 */
export async function ansiblePlaybook(args: string[], env: Record<string, string> = {}, timeoutMs = 600_000, cwd = ANSIBLE_DIR): Promise<PlaybookRun> {
  const t0 = performance.now();
  const p = Bun.spawn(["ansible-playbook", ...args], {
    cwd,
    env: { ...process.env, ANSIBLE_NOCOLOR: "1", ANSIBLE_FORCE_COLOR: "0", ANSIBLE_RETRY_FILES_ENABLED: "0", PYTHONUNBUFFERED: "1", ...env },
    stdout: "pipe",
    stderr: "pipe",
    timeout: timeoutMs,
  });
  // Output is read as it comes and not waited for past the exit: a child that outlives a killed
  // run (an ssh control master, a started service) can hold the pipes open for ever, and the run
  // must still end with what it printed.
  const text = { out: "", err: "" };
  const pump = async (s: ReadableStream<Uint8Array>, k: "out" | "err") => {
    const dec = new TextDecoder();
    for await (const c of s) text[k] += dec.decode(c, { stream: true });
  };
  const pumps = Promise.all([pump(p.stdout as ReadableStream<Uint8Array>, "out"), pump(p.stderr as ReadableStream<Uint8Array>, "err")]).catch(() => {});
  const code = await p.exited;
  await Promise.race([pumps, Bun.sleep(5_000)]);
  const killed = performance.now() - t0 >= timeoutMs ? `\n[ansible-playbook stopped after ${Math.round(timeoutMs / 1000)} s]` : "";
  const output = text.out + text.err + killed;
  const recap: Record<string, HostRecap> = {};
  for (const m of output.matchAll(/^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm)) {
    recap[m[1]!] = { ok: Number(m[2]), changed: Number(m[3]), unreachable: Number(m[4]), failed: Number(m[5]) };
  }
  const changedTasks: string[] = [];
  let task = "";
  for (const line of output.split("\n")) {
    const t = /^TASK \[(.*)\]/.exec(line);
    if (t) task = t[1]!;
    const c = /^changed: \[([^\]]+)\]/.exec(line);
    if (c) changedTasks.push(`${c[1]}: ${task}`);
  }
  return { code, output, recap, changedTasks, ms: performance.now() - t0 };
}

/** The last lines of a run, for a failure message. */
export function tail(run: { output: string }, lines = 60): string {
  return run.output.split("\n").slice(-lines).join("\n");
}
