import { randomUUID } from "node:crypto";
import { constants as FS, promises as fsp } from "node:fs";
import path from "node:path";
import { AppError } from "../errors.ts";
import { addTiming, timed } from "../perf.ts";
import {
  checkRange,
  chunksOf,
  compareKeys,
  rangeNotSatisfiable,
  readAll,
  tooLarge,
  validateKey,
  validatePrefix,
  type ByteRange,
  type ObjectInfo,
  noObjectLock,
  type ObjectStore,
  type PutBody,
  type PutResult,
} from "./store.ts";

const TMP = ".tmp";
const READ_CHUNK = 256 * 1024;
// Temp files this old at start are crash leftovers; younger ones may belong to a sibling process
// (api and worker roles can share one root) that is writing right now.
const STALE_TMP_MS = 60 * 60 * 1000;

type Errno = NodeJS.ErrnoException;
const code = (e: unknown) => (e as Errno | undefined)?.code;
const isMissing = (e: unknown) => ["ENOENT", "ENOTDIR", "EISDIR"].includes(code(e) ?? "");

/** Objects as plain files under `root`, for single-node installs and tests. */
export function createDiskStore(root: string): ObjectStore {
  const base = path.resolve(root);
  const tmpDir = path.join(base, TMP);

  function fileOf(key: string): string {
    validateKey(key);
    if (key === TMP || key.startsWith(`${TMP}/`)) throw new AppError("bad_request", `storage key may not start with ${TMP}/`);
    const p = path.resolve(base, ...key.split("/"));
    // validateKey already rules out '..'; this is the belt to its braces.
    if (!p.startsWith(base + path.sep)) throw new AppError("bad_request", "storage key escapes the root");
    return p;
  }

  async function put(key: string, body: PutBody, opts: { maxBytes?: number } = {}): Promise<PutResult> {
    const target = fileOf(key);
    const tmp = path.join(tmpDir, randomUUID());
    const hasher = new Bun.CryptoHasher("sha256");
    let size = 0;
    const fh = await fsp.open(tmp, "wx", 0o644).catch((e) => {
      throw unavailable(`cannot create temp file: ${code(e) ?? e}`, e);
    });
    try {
      try {
        for await (const chunk of chunksOf(body)) {
          size += chunk.byteLength;
          if (opts.maxBytes !== undefined && size > opts.maxBytes) throw tooLarge(key, opts.maxBytes);
          hasher.update(chunk);
          for (let off = 0; off < chunk.byteLength; ) off += (await fh.write(chunk, off)).bytesWritten;
        }
        // Without it a crash after rename can leave a complete-looking name over empty blocks.
        await fh.sync();
      } finally {
        await fh.close();
      }
      await publish(tmp, target, key);
    } catch (e) {
      await fsp.rm(tmp, { force: true }).catch(() => {});
      throw e;
    }
    return { key, size, sha256: hasher.digest("hex") };
  }

  async function publish(tmp: string, target: string, key: string): Promise<void> {
    // A concurrent delete() may prune the parent directory between mkdir and rename; one retry covers it.
    for (let attempt = 0; ; attempt++) {
      try {
        await fsp.mkdir(path.dirname(target), { recursive: true });
        await fsp.rename(tmp, target);
        break;
      } catch (e) {
        if (code(e) === "ENOENT" && attempt === 0) continue;
        if (["ENOTDIR", "EEXIST", "EISDIR", "ENOTEMPTY"].includes(code(e) ?? "")) {
          // S3 allows both 'a' and 'a/b'; a filesystem cannot. Rare enough to refuse rather than encode.
          throw new AppError("conflict", "storage key collides with an existing key used as a folder", {
            cause: e,
            detail: { key },
          });
        }
        throw e;
      }
    }
    await fsyncDir(path.dirname(target));
  }

  async function get(key: string, range?: ByteRange): Promise<ReadableStream<Uint8Array>> {
    checkRange(range);
    const file = fileOf(key);
    // Opening before returning pins this version: a concurrent put renames a new inode over the
    // name, and we keep streaming the complete old one.
    const fh = await fsp.open(file, FS.O_RDONLY).catch((e) => {
      throw isMissing(e) ? notFound(key) : e;
    });
    let pos: number;
    let end: number;
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw notFound(key);
      pos = range?.start ?? 0;
      end = Math.min(range?.end ?? st.size - 1, st.size - 1);
      if (range && pos >= st.size) throw rangeNotSatisfiable(key, st.size);
    } catch (e) {
      await fh.close();
      throw e;
    }
    let closed = false;
    const close = async () => {
      if (!closed) {
        closed = true;
        await fh.close();
      }
    };
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const want = Math.min(READ_CHUNK, end - pos + 1);
          if (want <= 0) {
            await close();
            controller.close();
            return;
          }
          const buf = new Uint8Array(want);
          const { bytesRead } = await fh.read(buf, 0, want, pos);
          if (bytesRead === 0) {
            await close();
            controller.close();
            return;
          }
          pos += bytesRead;
          controller.enqueue(bytesRead === want ? buf : buf.subarray(0, bytesRead));
        } catch (e) {
          await close().catch(() => {});
          controller.error(e);
        }
      },
      cancel: close,
    });
  }

  async function stat(key: string): Promise<ObjectInfo | null> {
    const file = fileOf(key);
    try {
      const st = await fsp.stat(file);
      return st.isFile() ? { key, size: st.size, lastModified: st.mtime } : null;
    } catch (e) {
      if (isMissing(e)) return null;
      throw e;
    }
  }

  async function* list(prefix: string): AsyncGenerator<ObjectInfo> {
    validatePrefix(prefix);
    // Walk only the deepest directory the prefix names whole; the partial tail is a string filter.
    const slash = prefix.lastIndexOf("/");
    const dirKey = slash < 0 ? "" : prefix.slice(0, slash + 1);
    yield* walk(dirKey, prefix);
  }

  async function* walk(dirKey: string, prefix: string): AsyncGenerator<ObjectInfo> {
    const dir = path.join(base, ...dirKey.split("/").filter(Boolean));
    const t0 = performance.now();
    let entries;
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (e) {
      if (isMissing(e)) return;
      throw e;
    } finally {
      addStorageTime(t0);
    }
    // Sorting directories as 'name/' gives global key order from a depth-first walk: every key
    // under 'a/' sorts exactly where the string 'a/' does.
    const items = entries
      .filter((d) => !(dirKey === "" && d.name === TMP) && (d.isFile() || d.isDirectory()))
      .map((d) => ({ key: dirKey + d.name + (d.isDirectory() ? "/" : ""), dir: d.isDirectory() }))
      .filter((it) => it.key.startsWith(prefix) || prefix.startsWith(it.key))
      .sort((a, b) => compareKeys(a.key, b.key));
    for (const it of items) {
      if (it.dir) {
        yield* walk(it.key, prefix);
        continue;
      }
      if (!it.key.startsWith(prefix)) continue;
      const t1 = performance.now();
      const st = await fsp.stat(path.join(dir, path.basename(it.key))).catch(() => null);
      addStorageTime(t1);
      if (st?.isFile()) yield { key: it.key, size: st.size, lastModified: st.mtime };
    }
  }

  async function del(key: string): Promise<void> {
    const file = fileOf(key);
    try {
      await fsp.unlink(file);
    } catch (e) {
      if (isMissing(e) || code(e) === "EPERM") return; // EPERM: unlink on a directory (Linux says EISDIR, macOS EPERM)
      throw e;
    }
    // Empty folders left behind would block a later put of a key equal to the folder name.
    let dir = path.dirname(file);
    while (dir !== base && dir.startsWith(base + path.sep)) {
      try {
        await fsp.rmdir(dir);
      } catch {
        break;
      }
      dir = path.dirname(dir);
    }
  }

  async function ping(): Promise<void> {
    try {
      await fsp.access(tmpDir, FS.W_OK);
    } catch (e) {
      throw unavailable(`storage directory not writable: ${code(e) ?? e}`, e);
    }
  }

  async function ensure(): Promise<void> {
    await fsp.mkdir(tmpDir, { recursive: true });
    const now = Date.now();
    for (const name of await fsp.readdir(tmpDir)) {
      const p = path.join(tmpDir, name);
      const st = await fsp.stat(p).catch(() => null);
      if (st && now - st.mtimeMs > STALE_TMP_MS) await fsp.rm(p, { force: true, recursive: true }).catch(() => {});
    }
  }

  return {
    kind: "file",
    put: (key, body, opts) => timed("storage", () => put(key, body, opts)),
    get: (key, range) => timed("storage", () => get(key, range)),
    getBytes: (key, range) => timed("storage", async () => readAll(await get(key, range))),
    stat: (key) => timed("storage", () => stat(key)),
    list,
    delete: (key) => timed("storage", () => del(key)),
    ping: () => timed("storage", ping),
    ensure: () => timed("storage", ensure),
    // A directory has no write-once mode: legal holds are enforced by Postgres alone here.
    objectLock: () => false,
    setLegalHold: async () => {
      throw noObjectLock();
    },
    legalHold: async () => false,
    close: async () => {},
  };
}

function addStorageTime(t0: number): void {
  addTiming("storage", performance.now() - t0);
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, FS.O_RDONLY).catch(() => null);
  if (!fh) return;
  await fh.sync().catch(() => {}); // some filesystems refuse fsync on directories; the rename is still atomic
  await fh.close();
}

function notFound(key: string): AppError {
  return new AppError("not_found", "object not found", { detail: { key } });
}

function unavailable(message: string, cause: unknown): AppError {
  return new AppError("unavailable", message, { cause, retryAfterSeconds: 5 });
}
