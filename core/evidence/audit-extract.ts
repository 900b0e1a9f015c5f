import { createHash } from "node:crypto";

/**
 * The audit-trail extract of a package: one JSON line per entry, with its `seq`, `prev_hash`,
 * `hash` and `canonical` — the exact text the database hashed (migration 0009:
 * hash = SHA-256(prev_hash ‖ canonical)). Shipping the hashed text itself means nobody has to
 * reproduce Postgres' jsonb printing to check an entry; the readable `entry` must say the same.
 */
export interface AuditLine {
  seq: string;
  prev_hash: string | null;
  hash: string;
  canonical: string;
  entry: {
    at: string;
    actor_id: string | null;
    actor_email: string | null;
    actor_role: string | null;
    token_id: string | null;
    action: string;
    target_type: string | null;
    target_id: string | null;
    ip: string | null;
    user_agent: string | null;
    request_id: string | null;
    detail: unknown;
  };
}

/** The audit chain's newest entry when the package was built. */
export interface AuditHead {
  seq: string;
  hash: string;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b as object, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/**
 * Checks every line on its own (its hash is SHA-256 of prev_hash and its canonical text, and the
 * readable entry says what the canonical text says), that lines whose seq follow each other link
 * (prev_hash = the previous hash), and that nothing is newer than the recorded head. Returns the
 * problems, each naming the seq; empty = the extract holds.
 */
export function checkAuditExtract(ndjson: string, head: AuditHead | null): { problems: string[]; entries: number } {
  const problems: string[] = [];
  const lines = ndjson.split("\n").filter((l) => l !== "");
  let prev: AuditLine | null = null;
  for (const [i, raw] of lines.entries()) {
    let l: AuditLine;
    try {
      l = JSON.parse(raw) as AuditLine;
    } catch {
      problems.push(`line ${i + 1} is not JSON`);
      continue;
    }
    if (
      typeof l?.seq !== "string" ||
      !/^[0-9]{1,18}$/.test(l.seq) ||
      typeof l.hash !== "string" ||
      typeof l.canonical !== "string" ||
      !l.entry ||
      (l.prev_hash !== null && typeof l.prev_hash !== "string")
    ) {
      problems.push(`line ${i + 1} is not an audit entry`);
      continue;
    }
    const digest = createHash("sha256")
      .update(Buffer.from(l.prev_hash ?? "", "hex"))
      .update(l.canonical, "utf8")
      .digest("hex");
    if (digest !== l.hash) problems.push(`seq ${l.seq}: hash does not match its content`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(l.canonical);
    } catch {
      parsed = null;
    }
    const e = l.entry;
    const expect = [
      Number(l.seq),
      e.at,
      e.actor_id,
      e.actor_email,
      e.actor_role,
      e.token_id,
      e.action,
      e.target_type,
      e.target_id,
      e.ip,
      e.user_agent,
      e.request_id,
      e.detail,
    ];
    if (!deepEqual(parsed, expect)) problems.push(`seq ${l.seq}: the readable entry differs from the hashed text`);
    if (prev) {
      if (BigInt(l.seq) <= BigInt(prev.seq)) problems.push(`seq ${l.seq}: out of order`);
      else if (BigInt(l.seq) === BigInt(prev.seq) + 1n && l.prev_hash !== prev.hash) problems.push(`seq ${l.seq}: does not link to seq ${prev.seq}`);
    }
    if (head) {
      if (BigInt(l.seq) > BigInt(head.seq)) problems.push(`seq ${l.seq}: newer than the recorded head ${head.seq}`);
      if (l.seq === head.seq && l.hash !== head.hash) problems.push(`seq ${l.seq}: differs from the recorded head`);
    }
    prev = l;
  }
  return { problems, entries: lines.length };
}
