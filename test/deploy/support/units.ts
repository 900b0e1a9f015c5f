import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The parts of a systemd service unit the deploy tests act on, read the way systemd reads them:
 * the unit file, then its drop-ins; Environment= and EnvironmentFile= merged; $VAR and ${VAR}
 * expanded in the command lines; %i/%I filled in for a template instance.
 */
export interface ServiceUnit {
  name: string;
  /** Files read, in order (unit, then drop-ins). */
  files: string[];
  type: string;
  user: string | null;
  group: string | null;
  workingDirectory: string | null;
  env: Record<string, string>;
  execStart: string[];
  execStop: string[][];
  execReload: string[][];
  killSignal: NodeJS.Signals;
  timeoutStopMs: number;
  raw: Record<string, string[]>;
}

/** Words of a command line, honouring double and single quotes. */
export function splitWords(s: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(s); m; m = re.exec(s)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : (m[2] ?? m[3]!));
  return out;
}

/** `KEY=value` lines of an EnvironmentFile (quotes removed, comments skipped). */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t || t.startsWith("#") || t.startsWith(";")) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(t);
    if (!m) continue;
    let v = m[2]!;
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    env[m[1]!] = v;
  }
  return env;
}

/** systemd's expansion: a word that is exactly $VAR becomes that many words; ${VAR} is replaced in place. */
export function expand(words: string[], env: Record<string, string>): string[] {
  const out: string[] = [];
  for (const w of words) {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(w);
    if (whole) {
      out.push(...(env[whole[1]!] ?? "").split(/\s+/).filter(Boolean));
      continue;
    }
    out.push(w.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, k: string) => env[k] ?? ""));
  }
  return out;
}

function parseSections(text: string, into: Record<string, string[]>): void {
  let section = "";
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t || t.startsWith("#") || t.startsWith(";")) continue;
    const sec = /^\[(.+)\]$/.exec(t);
    if (sec) {
      section = sec[1]!;
      continue;
    }
    const i = t.indexOf("=");
    if (i < 0) continue;
    const key = `${section}.${t.slice(0, i).trim()}`;
    (into[key] ??= []).push(t.slice(i + 1).trim());
  }
}

function seconds(v: string | undefined, dflt: number): number {
  if (!v) return dflt;
  if (v === "infinity") return 3600;
  const m = /^(\d+)\s*(ms|s|min)?$/.exec(v);
  if (!m) return dflt;
  const n = Number(m[1]);
  return m[2] === "ms" ? n / 1000 : m[2] === "min" ? n * 60 : n;
}

/**
 * Reads unit `file` and its drop-in directories (`<dir>/<name>.d/*.conf` for each dir in
 * dropinDirs). `instance` fills %i/%I for a template unit such as postgresql@.service.
 */
export function readUnit(file: string, opts: { name?: string; dropinDirs?: string[]; instance?: string; extraEnv?: Record<string, string> } = {}): ServiceUnit {
  const name = opts.name ?? file.split("/").pop()!;
  const raw: Record<string, string[]> = {};
  const files = [file];
  for (const dir of opts.dropinDirs ?? []) {
    const d = join(dir, `${name}.d`);
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d)
      .filter((f) => f.endsWith(".conf"))
      .sort())
      files.push(join(d, f));
  }
  for (const f of files) {
    let text = readFileSync(f, "utf8");
    if (opts.instance !== undefined) text = text.replaceAll("%i", opts.instance).replaceAll("%I", opts.instance.replaceAll("-", "/"));
    parseSections(text, raw);
  }
  const last = (k: string) => raw[`Service.${k}`]?.at(-1);
  const env: Record<string, string> = { ...opts.extraEnv };
  for (const ef of raw["Service.EnvironmentFile"] ?? []) {
    const optional = ef.startsWith("-");
    const path = optional ? ef.slice(1) : ef;
    if (!existsSync(path)) {
      if (optional) continue;
      throw new Error(`${name}: EnvironmentFile ${path} is missing`);
    }
    Object.assign(env, parseEnvFile(readFileSync(path, "utf8")));
  }
  for (const e of raw["Service.Environment"] ?? []) {
    for (const w of splitWords(e)) {
      const i = w.indexOf("=");
      if (i > 0) env[w.slice(0, i)] = w.slice(i + 1);
    }
  }
  const cmd = (line: string) => expand(splitWords(line.replace(/^[-@:+!]+/, "")), env);
  const starts = (raw["Service.ExecStart"] ?? []).filter((s) => s !== "");
  if (starts.length === 0) throw new Error(`${name}: no ExecStart`);
  return {
    name,
    files,
    type: last("Type") ?? "simple",
    user: last("User") ?? null,
    group: last("Group") ?? null,
    workingDirectory: last("WorkingDirectory") ?? null,
    env,
    execStart: cmd(starts.at(-1)!),
    execStop: (raw["Service.ExecStop"] ?? []).map(cmd),
    execReload: (raw["Service.ExecReload"] ?? []).map(cmd),
    killSignal: (last("KillSignal") as NodeJS.Signals | undefined) ?? "SIGTERM",
    timeoutStopMs: seconds(last("TimeoutStopSec"), 90) * 1000,
    raw,
  };
}
