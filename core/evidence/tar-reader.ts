/**
 * Reads a tar archive (ustar, with pax `x` and GNU `L` long-name records) into the list of its
 * regular files: name, where the data starts and how long it is. Only what an evidence package
 * needs: the verifier must run offline on any machine, so it cannot lean on a `tar` binary; it
 * reads from a ByteSource (a file read piece by piece, so a package of many gigabytes never sits
 * in memory), and it names precisely what is wrong with a damaged file (not a tar, truncated, a
 * header whose checksum fails).
 */
export interface ByteSource {
  readonly size: number;
  /** `length` bytes from `offset` (fewer only at the end). */
  read(offset: number, length: number): Uint8Array;
}

export interface TarEntry {
  path: string;
  offset: number;
  size: number;
}

export interface TarFile {
  path: string;
  data: Uint8Array;
}

export class TarError extends Error {}

const BLOCK = 512;
const dec = new TextDecoder();

export function memorySource(buf: Uint8Array): ByteSource {
  return { size: buf.length, read: (offset, length) => buf.subarray(offset, Math.min(buf.length, offset + length)) };
}

function field(h: Uint8Array, off: number, len: number): string {
  const s = h.subarray(off, off + len);
  const end = s.indexOf(0);
  return dec.decode(end < 0 ? s : s.subarray(0, end));
}

function octal(h: Uint8Array, off: number, len: number, what: string, at: number): number {
  // GNU base-256 for large numbers: high bit of the first byte set.
  if (h[off]! & 0x80) {
    let v = h[off]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + h[off + i]!;
    return v;
  }
  const s = field(h, off, len).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarError(`bad ${what} in the header at byte ${at}`);
  return parseInt(s, 8);
}

function checksumOk(h: Uint8Array, at: number): boolean {
  let stored: number;
  try {
    stored = octal(h, 148, 8, "checksum", at);
  } catch {
    return false;
  }
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === stored;
}

function paxRecords(data: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(dec.decode(data.subarray(i, sp)), 10);
    if (!Number.isFinite(len) || len <= 0 || i + len > data.length) throw new TarError("bad pax header record");
    const rec = dec.decode(data.subarray(sp + 1, i + len - 1));
    const eq = rec.indexOf("=");
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

const isZero = (b: Uint8Array) => b.every((x) => x === 0);
/** Extended headers and long names are small; anything bigger is not an honest archive. */
const MAX_META_BYTES = 1 << 20;

/** Every regular file, in archive order. Throws TarError naming the first fault. */
export function listTar(src: ByteSource): TarEntry[] {
  if (src.size < BLOCK) throw new TarError(src.size === 0 ? "empty file, not a tar archive" : "not a tar archive (shorter than one header)");
  const files: TarEntry[] = [];
  let off = 0;
  let pax: Record<string, string> = {};
  let longName: string | null = null;
  let first = true;
  for (;;) {
    // A tar ends with zero blocks; one that stops at a header boundary without them was cut there.
    if (off === src.size) throw new TarError(`truncated: the archive stops after ${files.length} files without its end-of-archive blocks`);
    if (off + BLOCK > src.size) throw new TarError(`truncated: archive ends inside a header at byte ${off}`);
    const h = src.read(off, BLOCK);
    if (isZero(h)) {
      // End of archive is two zero blocks; one followed by the end of the file is also common.
      if (first) throw new TarError("not a tar archive (starts with zeros)");
      return files;
    }
    if (!checksumOk(h, off))
      throw new TarError(first ? "not a tar archive (header checksum does not match)" : `damaged tar header at byte ${off} (checksum does not match)`);
    first = false;
    const type = String.fromCharCode(h[156]! || 0x30);
    let size = octal(h, 124, 12, "size", off);
    if (pax.size !== undefined) {
      size = Number(pax.size);
      if (!Number.isSafeInteger(size) || size < 0) throw new TarError(`bad pax size in the header at byte ${off}`);
    }
    const start = off + BLOCK;
    const prefix = dec.decode(h.subarray(257, 263)).startsWith("ustar") ? field(h, 345, 155) : "";
    const name = pax.path ?? longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    if (start + size > src.size) throw new TarError(`truncated: ${name} needs ${size} bytes, the archive ends first`);
    off = start + Math.ceil(size / BLOCK) * BLOCK;
    if (type === "x" || type === "L") {
      if (size > MAX_META_BYTES) throw new TarError(`oversized ${type === "x" ? "pax" : "long-name"} header at byte ${start - BLOCK}`);
      const data = src.read(start, size);
      if (type === "x") pax = paxRecords(data);
      else longName = dec.decode(data).replace(/\0+$/, "");
      continue;
    }
    if (type === "g") continue;
    pax = {};
    longName = null;
    if (type === "0" || type === "7") files.push({ path: name, offset: start, size });
  }
}

/** Every regular file with its bytes, for an archive already in memory. */
export function readTar(buf: Uint8Array): TarFile[] {
  return listTar(memorySource(buf)).map((e) => ({ path: e.path, data: buf.subarray(e.offset, e.offset + e.size) }));
}
