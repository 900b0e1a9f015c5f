/** Small pure parsers for setting values; each throws a one-line Error naming what is wrong. */

export function parseIntInRange(v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v.trim())) throw new Error(`expected a whole number, got "${v}"`);
  const n = Number(v);
  if (n < min || n > max) throw new Error(`must be between ${min} and ${max}, got ${n}`);
  return n;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "10s", "5m", "2h", "7d"; a bare number means milliseconds. */
export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m) throw new Error(`expected a duration like 500ms, 10s, 5m, 2h or 7d, got "${v}"`);
  const ms = Number(m[1]) * DURATION_UNITS[m[2] ?? "ms"]!;
  if (!Number.isFinite(ms) || ms <= 0) throw new Error(`must be positive, got "${v}"`);
  return Math.round(ms);
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** "1048576", "64MiB", "10MB". */
export function parseSize(v: string): number {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(v.trim());
  const unit = SIZE_UNITS[(m?.[2] ?? "x").toLowerCase()];
  if (!m || unit === undefined) throw new Error(`expected a size like 1048576, 64MiB or 10MB, got "${v}"`);
  return Number(m[1]) * unit;
}

/**
 * Bytes per second: "16KiB", "16KiB/s", "16384"; or "off" (null). 1 B/s to 1GiB/s: a floor above
 * any real link would refuse every upload.
 */
export function parseByteRate(v: string): number | null {
  const s = v.trim();
  if (s === "off") return null;
  let n: number;
  try {
    n = parseSize(s.replace(/\/s$/i, ""));
  } catch {
    throw new Error(`expected bytes per second like 16KiB, 16KiB/s or 16384, or off; got "${v}"`);
  }
  if (n < 1 || n > 1024 ** 3) throw new Error(`must be between 1 byte and 1GiB per second, or off; got "${v}"`);
  return n;
}

export function parseUrl(v: string, protocols: string[]): URL {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new Error(`not a valid URL: "${redactUrl(v)}"`);
  }
  if (!protocols.includes(u.protocol)) {
    throw new Error(`scheme must be ${protocols.map((p) => p.replace(/:$/, "")).join(" or ")}, got "${u.protocol.replace(/:$/, "")}"`);
  }
  return u;
}

/** Passwords never reach logs or --print-config. */
export function redactUrl(v: string): string {
  return v.replace(/\/\/([^:/@]*):([^@]*)@/, "//$1:***@");
}

const CRON_FIELDS: [name: string, min: number, max: number][] = [
  ["minute", 0, 59],
  ["hour", 0, 23],
  ["day of month", 1, 31],
  ["month", 1, 12],
  ["day of week", 0, 7],
];

/**
 * A five-field cron schedule in graphile-worker's grammar (numbers, a-b ranges, * and *\/n, comma
 * lists; no names), or "off" (null). Checked here so a typo stops the process at start with a
 * one-line error; graphile-worker parses it again when the worker starts.
 */
export function parseCronSchedule(v: string): string | null {
  const s = v.trim();
  if (s === "off") return null;
  const fields = s.split(/\s+/);
  if (fields.length !== 5) throw new Error(`expected a cron schedule of 5 fields like "17 * * * *", or off; got "${v}"`);
  fields.forEach((field, i) => {
    const [name, min, max] = CRON_FIELDS[i]!;
    for (const part of field.split(",")) {
      let m: RegExpExecArray | null;
      if ((m = /^\*(?:\/(\d+))?$/.exec(part))) {
        if (m[1] !== undefined && Number(m[1]) < 1) throw new Error(`${name}: divisor must be at least 1 in "${part}"`);
      } else if ((m = /^(\d+)(?:-(\d+))?$/.exec(part))) {
        const a = Number(m[1]);
        const b = m[2] === undefined ? a : Number(m[2]);
        if (a < min || b > max) throw new Error(`${name}: values must be ${min}-${max}, got "${part}"`);
        if (m[2] !== undefined && b <= a) throw new Error(`${name}: range "${part}" must go upwards`);
      } else {
        throw new Error(`${name}: "${part}" is not a number, a-b range, * or */n`);
      }
    }
  });
  return fields.join(" ");
}

/** A fixed-window request quota: "3000/1m" = 3000 requests per minute (window 1 s to 1 h). */
export interface RatePolicy {
  readonly limit: number;
  readonly windowSeconds: number;
}

export function parseRatePolicy(v: string): RatePolicy {
  const m = /^(\d+)\s*\/\s*(\S+)$/.exec(v.trim());
  if (!m) throw new Error(`expected requests/window like 3000/1m or 20/10s, got "${v}"`);
  const limit = parseIntInRange(m[1]!, 1, 1_000_000);
  const windowMs = parseDuration(m[2]!);
  if (windowMs % 1000 !== 0 || windowMs < 1000 || windowMs > 3_600_000) throw new Error(`window must be whole seconds from 1s to 1h, got "${m[2]}"`);
  return { limit, windowSeconds: windowMs / 1000 };
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** Comma list of IP addresses and IPv4 CIDR blocks ("10.0.0.0/8,127.0.0.1,::1"). */
export function parseAddressList(v: string): string[] {
  const out = v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const a of out) {
    const [ip, bits, extra] = a.split("/");
    const ok =
      extra === undefined &&
      (IPV4.test(ip!)
        ? bits === undefined || (/^\d{1,2}$/.test(bits) && Number(bits) <= 32)
        : bits === undefined && /^[0-9a-f:]+$/i.test(ip!) && ip!.includes(":"));
    if (!ok) throw new Error(`not an IP address or IPv4 CIDR block: "${a}"`);
  }
  return out;
}

/** Comma list of web origins (scheme://host[:port], no path), e.g. for CORS. */
export function parseOriginList(v: string): string[] {
  const out = v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const o of out) {
    const u = parseUrl(o, ["http:", "https:"]);
    if (u.origin !== o) throw new Error(`not a bare origin (scheme://host[:port]): "${o}"`);
  }
  return out;
}
