/**
 * The client's address. Behind a load balancer every connection comes from the balancer, so its
 * X-Forwarded-For is believed, but only when the peer is one of --trusted-proxies: anyone else
 * could write any address there and pick a fresh rate-limit bucket per request.
 */
export function clientAddress(peer: string | null, forwardedFor: string | null, trusted: readonly string[]): string {
  const direct = normalize(peer) ?? "unknown";
  if (!forwardedFor || !isTrusted(direct, trusted)) return direct;
  // Rightmost first: each proxy appends the address it saw; the first untrusted one is the client.
  const hops = forwardedFor
    .split(",")
    .map((s) => s.trim())
    .reverse();
  let last = direct;
  for (const hop of hops) {
    const ip = normalize(hop);
    if (!ip) return last;
    if (!isTrusted(ip, trusted)) return ip;
    last = ip;
  }
  return last;
}

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** A syntactically sane IP (v4, v6, v4-mapped v6 reduced to v4), else null. */
export function normalize(s: string | null | undefined): string | null {
  if (!s) return null;
  let ip = s.trim().toLowerCase();
  if (ip.startsWith("::ffff:") && V4.test(ip.slice(7))) ip = ip.slice(7);
  const m = V4.exec(ip);
  if (m) return m.slice(1).every((o) => Number(o) <= 255) ? ip : null;
  return ip.length <= 45 && ip.includes(":") && /^[0-9a-f:.]+$/.test(ip) ? ip : null;
}

function v4ToInt(ip: string): number | null {
  const m = V4.exec(ip);
  return m ? ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0 : null;
}

export function isTrusted(ip: string, trusted: readonly string[]): boolean {
  for (const t of trusted) {
    const [base, bits] = t.split("/");
    if (bits === undefined) {
      if (normalize(base) === ip) return true;
      continue;
    }
    const a = v4ToInt(ip);
    const b = v4ToInt(base!);
    const n = Number(bits);
    if (a === null || b === null) continue;
    const mask = n === 0 ? 0 : (~0 << (32 - n)) >>> 0;
    if ((a & mask) >>> 0 === (b & mask) >>> 0) return true;
  }
  return false;
}
