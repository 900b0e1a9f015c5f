import { AppError } from "../errors.ts";

/**
 * The object storage contract. Two implementations: `disk.ts` (file:///path, single node) and
 * `s3.ts` (any S3-compatible service, MinIO in production). Both pass the same behavioural suite
 * in test/integration/storage.test.ts, so callers never branch on `kind`.
 */

export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
  etag?: string;
}

export interface PutResult {
  key: string;
  size: number;
  /** Lowercase hex SHA-256 of the stored bytes, computed while streaming. */
  sha256: string;
}

/** Inclusive end, like HTTP Range. An end past the object is clamped; a start past it is refused. */
export interface ByteRange {
  start: number;
  end?: number;
}

export type PutBody = ReadableStream<Uint8Array> | Uint8Array | string;

export interface ObjectStore {
  readonly kind: "s3" | "file";
  /**
   * Streams the body to storage, computing sha256 while streaming. Atomic: a reader never sees a
   * half-written object (disk: write temp file + rename; s3: single putObject or multipart
   * completion). Optional maxBytes: abort with AppError('too_large') and leave nothing behind.
   */
  put(key: string, body: PutBody, opts?: { contentType?: string; maxBytes?: number }): Promise<PutResult>;
  /** Whole object or a byte range as a web ReadableStream. Missing key -> AppError('not_found'). */
  get(key: string, range?: ByteRange): Promise<ReadableStream<Uint8Array>>;
  getBytes(key: string, range?: ByteRange): Promise<Uint8Array>;
  stat(key: string): Promise<ObjectInfo | null>;
  /** Recursive, sorted by key in UTF-8 byte order (what S3 does). `prefix` is a plain string prefix. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /**
   * Deleting a missing key is not an error. In a versioned bucket every version of the key goes
   * (a plain S3 delete would only add a delete marker and keep the bytes); a version under an S3
   * legal hold is refused with AppError('conflict') unless liftLegalHold (for purges the database
   * has already cleared: no hold in force, no row left).
   */
  delete(key: string, opts?: { liftLegalHold?: boolean }): Promise<void>;
  /**
   * True when objects can be made write-once here: an S3 bucket created with object lock. Known
   * after ensure(); always false on disk.
   */
  objectLock(): boolean;
  /** Puts (on) or lifts (off) the S3 legal hold on the current version of key. Refused (AppError('conflict')) without object lock. */
  setLegalHold(key: string, on: boolean): Promise<void>;
  /** The S3 legal hold of the current version of key; false without object lock. */
  legalHold(key: string): Promise<boolean>;
  /** Cheap reachability check for /readyz; throws AppError('unavailable') when down. */
  ping(): Promise<void>;
  /** Create bucket / directory if needed; called once at start. */
  ensure(): Promise<void>;
  close(): Promise<void>;
}

/** Connection settings for an S3-compatible service. Built from `--storage-url` by open.ts. */
export interface S3Options {
  /** Host name or IP of the S3 endpoint, without scheme. */
  endPoint: string;
  /** Defaults to 443 with TLS, 80 without. */
  port?: number;
  useSSL: boolean;
  /** PEM CA certificates the server's certificate must chain to, instead of the public CAs. */
  ca?: string;
  accessKey: string;
  secretKey: string;
  /** Must already be a valid S3 bucket name; created by ensure() when missing. */
  bucket: string;
  /** Fixed so the client never issues a GetBucketLocation round-trip before each first call. */
  region: string;
  /** Per attempt: connect + response headers, and the longest silence while streaming a body. */
  timeoutMs: number;
  /** Extra attempts after the first on transient failures (connection refused/reset, 5xx, SlowDown). */
  retries: number;
  /** Create a missing bucket with S3 object lock (write-once legal holds); an existing bucket keeps what it has. */
  objectLock?: boolean;
}

export type StorageConfig = { kind: "file"; root: string } | ({ kind: "s3" } & S3Options);

const MAX_KEY_BYTES = 1024;
// C0 controls and DEL: invisible in logs, illegal in XML 1.0 (S3 list responses) and NUL ends C paths.
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Keys are '/'-separated and may hold spaces, unicode, '+', '%', '=' and so on. Empty segments
 * ('a//b', trailing '/') and '.' are refused as well as '..': on disk they would alias another key
 * or a directory, and we want both stores to accept exactly the same keys.
 */
export function validateKey(key: string): void {
  const reason = keyProblem(key, false);
  if (reason) throw new AppError("bad_request", `invalid storage key: ${reason}`, { detail: { key } });
}

/** Like validateKey, but '' and a trailing '/' or partial last segment are fine. */
export function validatePrefix(prefix: string): void {
  if (prefix === "") return;
  const reason = keyProblem(prefix, true);
  if (reason) throw new AppError("bad_request", `invalid storage prefix: ${reason}`, { detail: { prefix } });
}

function keyProblem(key: string, isPrefix: boolean): string | null {
  if (typeof key !== "string" || key.length === 0) return "empty";
  if (Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES) return `longer than ${MAX_KEY_BYTES} bytes`;
  if (key.startsWith("/")) return "leading '/'";
  if (key.includes("\\")) return "backslash";
  if (CONTROL.test(key)) return "control character";
  if (!key.isWellFormed()) return "lone surrogate";
  const segments = key.split("/");
  // A prefix's last segment is a partial name ('seg' matches 'seg-001'), so only whole ones are checked.
  const whole = isPrefix ? segments.slice(0, -1) : segments;
  for (const s of whole) {
    if (s === "") return "empty path segment";
    if (s === "." || s === "..") return `'${s}' path segment`;
  }
  return null;
}

export function checkRange(range: ByteRange | undefined): void {
  if (!range) return;
  const { start, end } = range;
  const ok = Number.isSafeInteger(start) && start >= 0 && (end === undefined || (Number.isSafeInteger(end) && end >= start));
  if (!ok) throw new AppError("bad_request", "invalid byte range", { detail: { range } });
}

export function rangeNotSatisfiable(key: string, size: number): AppError {
  return new AppError("bad_request", "byte range not satisfiable", { detail: { key, size } });
}

/** UTF-8 byte order, which is how S3 sorts keys (JS string order differs above U+FFFF). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * Yields the body as chunks. When the consumer stops early (too_large, a failed write) the source
 * stream is cancelled so an upstream HTTP upload stops instead of being read to the end.
 */
export async function* chunksOf(body: PutBody): AsyncGenerator<Uint8Array> {
  if (typeof body === "string") {
    yield new TextEncoder().encode(body);
    return;
  }
  if (body instanceof Uint8Array) {
    yield body;
    return;
  }
  const reader = body.getReader();
  let done = false;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) {
        done = true;
        return;
      }
      if (r.value.byteLength > 0) yield r.value;
    }
  } finally {
    if (!done) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

export function noObjectLock(): AppError {
  return new AppError("conflict", "this storage has no object lock (an S3 bucket created with object lock is needed)");
}

export function tooLarge(key: string, maxBytes: number): AppError {
  return new AppError("too_large", `object exceeds ${maxBytes} bytes`, { detail: { key, maxBytes } });
}

export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
