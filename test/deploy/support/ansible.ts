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
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const output = out + err;
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
