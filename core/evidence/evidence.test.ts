import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkAuditExtract, type AuditLine } from "./audit-extract.ts";
import { formatManifest, parseManifest } from "./manifest.ts";
import { runTar, tarArgs } from "./tar.ts";
import { readTar, TarError } from "./tar-reader.ts";

describe("tar: what GNU tar writes with our pinned flags, our reader reads", () => {
  test("long names, nested paths, empty and binary files; the same input gives the same bytes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rter-tar-"));
    try {
      const top = "pkg";
      const long = `streams/${"x".repeat(150)}/chunks/000001.webm`;
      const content: Record<string, Uint8Array> = {
        MANIFEST: new TextEncoder().encode("abc\n"),
        [long]: Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff),
        "empty.json": new Uint8Array(0),
      };
      for (const [p, d] of Object.entries(content)) {
        mkdirSync(join(dir, top, p, ".."), { recursive: true });
        writeFileSync(join(dir, top, p), d);
      }
      const make = async () => {
        const t = runTar(tarArgs(dir, top, 1_700_000_000), { timeoutMs: 30_000 });
        const [bytes] = await Promise.all([new Response(t.stdout).arrayBuffer(), t.done]);
        return new Uint8Array(bytes);
      };
      const a = await make();
      const files = new Map(readTar(a).map((f) => [f.path, f.data]));
      for (const [p, d] of Object.entries(content)) expect(Buffer.from(files.get(`${top}/${p}`)!).equals(Buffer.from(d))).toBe(true);
      // Deterministic: owner, order and times are pinned.
      expect(
        createHash("sha256")
          .update(await make())
          .digest("hex"),
      ).toBe(createHash("sha256").update(a).digest("hex"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("damage is named", () => {
    expect(() => readTar(new Uint8Array(0))).toThrow(TarError);
    expect(() => readTar(new Uint8Array(1024))).toThrow(/not a tar/);
    expect(() => readTar(new TextEncoder().encode("x".repeat(2048)))).toThrow(/not a tar/);
  });
});

describe("manifest", () => {
  test("sha256sum format, sorted; bad lines and unsafe paths are reported", () => {
    const h = "a".repeat(64);
    const text = formatManifest([
      { path: "b/c.txt", sha256: h },
      { path: "a.txt", sha256: h },
    ]);
    expect(text).toBe(`${h}  a.txt\n${h}  b/c.txt\n`);
    expect(parseManifest(text).entries.map((e) => e.path)).toEqual(["a.txt", "b/c.txt"]);
    expect(parseManifest(`${h}  ../etc/passwd\nnot a line\n${h} single-space\n`).bad).toEqual(["line 1", "line 2", "line 3"]);
    expect(() => formatManifest([{ path: "/abs", sha256: h }])).toThrow();
  });
});

describe("audit extract", () => {
  function chain(n: number, first = 1): AuditLine[] {
    const out: AuditLine[] = [];
    let prev: string | null = null;
    for (let i = 0; i < n; i++) {
      const seq = first + i;
      const entry = {
        at: "2026-11-28T00:00:00.000000Z",
        actor_id: null,
        actor_email: "op@city.example",
        actor_role: "operator",
        token_id: null,
        action: "chunk.stored",
        target_type: "stream",
        target_id: "s",
        ip: null,
        user_agent: null,
        request_id: null,
        detail: { seq: i, é: "ü" },
      };
      const canonical = JSON.stringify([
        seq,
        entry.at,
        entry.actor_id,
        entry.actor_email,
        entry.actor_role,
        entry.token_id,
        entry.action,
        entry.target_type,
        entry.target_id,
        entry.ip,
        entry.user_agent,
        entry.request_id,
        entry.detail,
      ]);
      const hash: string = createHash("sha256")
        .update(Buffer.from(prev ?? "", "hex"))
        .update(canonical, "utf8")
        .digest("hex");
      out.push({ seq: String(seq), prev_hash: prev, hash, canonical, entry });
      prev = hash;
    }
    return out;
  }
  const nd = (ls: AuditLine[]) => ls.map((l) => JSON.stringify(l) + "\n").join("");

  test("a true chain holds, against its head", () => {
    const ls = chain(5);
    expect(checkAuditExtract(nd(ls), { seq: "5", hash: ls[4]!.hash })).toEqual({ problems: [], entries: 5 });
    // An extract may skip entries: only consecutive seqs must link.
    expect(checkAuditExtract(nd([ls[0]!, ls[2]!, ls[3]!]), { seq: "9", hash: "f".repeat(64) }).problems).toEqual([]);
  });

  test("a changed text, a changed readable entry, a broken link, disorder and a wrong head are each named", () => {
    const ls = chain(4);
    const edited = ls.map((l) => ({ ...l }));
    edited[1] = { ...ls[1]!, canonical: ls[1]!.canonical.replace("chunk.stored", "chunk.storeD") };
    expect(checkAuditExtract(nd(edited), null).problems).toContain("seq 2: hash does not match its content");
    const lied = ls.map((l) => ({ ...l }));
    lied[2] = { ...ls[2]!, entry: { ...ls[2]!.entry, actor_email: "someone@else" } };
    expect(checkAuditExtract(nd(lied), null).problems).toEqual(["seq 3: the readable entry differs from the hashed text"]);
    const other = chain(2, 3); // a different chain's seq 3 and 4
    expect(checkAuditExtract(nd([ls[0]!, ls[1]!, other[0]!]), null).problems).toContain("seq 3: does not link to seq 2");
    expect(checkAuditExtract(nd([ls[1]!, ls[0]!]), null).problems).toContain("seq 1: out of order");
    expect(checkAuditExtract(nd(ls), { seq: "4", hash: "0".repeat(64) }).problems).toEqual(["seq 4: differs from the recorded head"]);
    expect(checkAuditExtract(nd(ls), { seq: "3", hash: ls[2]!.hash }).problems).toEqual(["seq 4: newer than the recorded head 3"]);
    expect(checkAuditExtract("{not json\n", null).problems).toEqual(["line 1 is not JSON"]);
  });
});
