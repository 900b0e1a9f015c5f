import { open } from "node:fs/promises";
import { hostname } from "node:os";
import type { Kysely } from "kysely";
import type { DB } from "../db/schema.ts";
import type { Logger } from "../log.ts";
import { entriesByHashOrSeq, newestChainEntry, verifyChain } from "./audit.repository.ts";

/**
 * The audit chain's newest entry, shipped off the database host on a schedule. Whoever can delete
 * the newest rows as the table's owner can also recompute every hash after them; a copy of the
 * head kept somewhere they cannot reach (a syslog collector, a backed-up file) is what makes such
 * a cut show.
 */
export interface AuditHead {
  seq: number;
  hash: string;
  at: Date;
}

export async function readHead(db: Kysely<DB>): Promise<AuditHead | null> {
  const r = await newestChainEntry(db);
  return r ? { seq: Number(r.seq), hash: r.hash.toString("hex"), at: r.at } : null;
}

/**
 * One RFC 5424 line: facility log audit (13), severity info (6). `head=SEQ:HASH` is exactly what
 * `rter audit verify --head` takes, so a collected line can be pasted back as it is.
 */
export function headLine(head: AuditHead, shippedAt: Date, host = hostname()): string {
  const h = host.replace(/[^\x21-\x7e]/g, "").slice(0, 255) || "-";
  return `<110>1 ${shippedAt.toISOString()} ${h} rter - audit-head - seq=${head.seq} hash=${head.hash} entry_at=${head.at.toISOString()} head=${head.seq}:${head.hash}`;
}

export interface ShipDeps {
  db: Kysely<DB>;
  log: Logger;
}

/** Logs the head line and, with a file configured, appends it there and syncs it to disk. */
export async function shipHead(deps: ShipDeps, headFile: string | null, now = new Date()): Promise<string | null> {
  const head = await readHead(deps.db);
  if (!head) {
    deps.log.info("audit head not shipped: the audit log is empty");
    return null;
  }
  const line = headLine(head, now);
  deps.log.info("audit head", { line });
  if (headFile) {
    const f = await open(headFile, "a", 0o640);
    try {
      await f.write(`${line}\n`);
      await f.sync();
    } finally {
      await f.close();
    }
  }
  return line;
}

/** What `--head` accepts: HASH, or SEQ:HASH as the shipped line's head= field has it. */
export function parseHeadArg(v: string): { seq: number | null; hash: string } {
  const m = /^(?:(\d{1,15}):)?([0-9a-fA-F]{64})$/.exec(v);
  if (!m) {
    const shown = JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);
    throw new Error(`--head must be the 64-hex-digit hash of a shipped audit head, or SEQ:HASH, got ${shown}`);
  }
  const seq = m[1] === undefined ? null : Number(m[1]);
  if (seq !== null && seq < 1) throw new Error(`--head sequence numbers start at 1, got ${seq}`);
  return { seq, hash: m[2]!.toLowerCase() };
}

export type HeadVerdict = { ok: true; entries: number; headSeq: number | null; newestSeq: number } | { ok: false; seq: number; reason: string };

/**
 * The whole chain must hold together, and the shipped head must still be in it, at its sequence
 * number: a cut back to before the head, or a rewrite at or before it, fails naming the sequence
 * number where the evidence stops agreeing.
 */
export async function verifyAgainstHead(db: Kysely<DB>, head: { seq: number | null; hash: string } | null): Promise<HeadVerdict> {
  const chain = await verifyChain(db);
  const entries = Number(chain.entries);
  if (chain.first_bad_seq !== null) {
    return {
      ok: false,
      seq: Number(chain.first_bad_seq),
      reason: `entry seq ${chain.first_bad_seq} does not match the chain (changed, inserted or removed); ${entries} entries before it hold together`,
    };
  }
  if (!head) return { ok: true, entries, headSeq: null, newestSeq: entries };
  const rows = await entriesByHashOrSeq(db, Buffer.from(head.hash, "hex"), head.seq);
  const byHash = rows.find((r) => r.hash.toString("hex") === head.hash);
  if (byHash && (head.seq === null || Number(byHash.seq) === head.seq)) return { ok: true, entries, headSeq: Number(byHash.seq), newestSeq: entries };
  if (head.seq !== null) {
    const atSeq = rows.find((r) => Number(r.seq) === head.seq);
    const reason = atSeq
      ? `entry seq ${head.seq} has hash ${atSeq.hash.toString("hex")}, not the shipped ${head.hash}: the chain was rewritten at or before it`
      : `entry seq ${head.seq} (the shipped head) is missing: the chain ends at seq ${entries}, so newer entries were removed`;
    return { ok: false, seq: head.seq, reason };
  }
  return {
    ok: false,
    seq: entries,
    reason: `no entry has the shipped head hash ${head.hash}: the chain (now ending at seq ${entries}) was cut back or rewritten`,
  };
}
