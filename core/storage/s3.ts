import http from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import { Client } from "minio";
// The client's own SigV4 (no public export): signing a request we send with fetch.
import { signV4 } from "minio/dist/esm/signing.mjs";
import { AppError, isTransientNetworkError } from "../errors.ts";
import { addTiming, timed } from "../perf.ts";
import {
  checkRange,
  chunksOf,
  readAll,
  tooLarge,
  validateKey,
  validatePrefix,
  noObjectLock,
  type ByteRange,
  type ObjectInfo,
  type ObjectStore,
  type PutBody,
  type PutResult,
  type S3Options,
} from "./store.ts";

export type { S3Options } from "./store.ts";

/**
 * Bodies are cut into parts of this size. Smaller bodies go up as one PutObject, larger ones as a
 * multipart upload we drive ourselves. Why not minio's putObject(stream)? For a stream of unknown
 * length it (1) sizes parts for a 5 TiB object, buffering ~525 MiB per upload, (2) resumes "the
 * latest incomplete upload for this key" (findUploadId), so two concurrent writers of one key share
 * an upload id and can interleave parts, and (3) never aborts a failed upload. Buffered parts also
 * make every request replayable, so retries stay safe even though the caller's stream is one-shot,
 * and maxBytes can abort the upload before CompleteMultipartUpload, leaving nothing visible.
 */
const PART_SIZE = 8 * 1024 * 1024;
const MAX_PARTS = 10_000;
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 2_000;
// An upload attempt's deadline grows with its body, assuming at least this throughput (bytes/ms =
// 1 MiB/s), so a slow but moving link is not mistaken for a dead one.
const MIN_UPLOAD_BYTES_PER_MS = (1024 * 1024) / 1000;

const NOT_FOUND = new Set(["NoSuchKey", "NotFound"]);
const BAD_KEY = new Set(["InvalidObjectName", "KeyTooLongError", "XMinioInvalidObjectName"]);
const TRANSIENT = new Set(["SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "XMinioServerNotInitialized"]);

export function createS3Store(opts: S3Options): ObjectStore {
  const { bucket, timeoutMs, retries } = opts;
  // Read from the bucket by ensure(): with versioning a delete must remove every version, and
  // with object lock legal holds reach the objects themselves.
  let versioned = false;
  let locked = false;
  // With a private CA (the deployment's internal one) only it is trusted, and the certificate's
  // name must still match the endpoint (verification is never switched off).
  const agent = opts.useSSL ? new https.Agent({ keepAlive: true, ...(opts.ca ? { ca: opts.ca } : {}) }) : new http.Agent({ keepAlive: true });
  const client = new Client({
    endPoint: opts.endPoint,
    port: opts.port,
    useSSL: opts.useSSL,
    accessKey: opts.accessKey,
    secretKey: opts.secretKey,
    region: opts.region,
    pathStyle: true,
    transport: idleTimeoutTransport(opts.useSSL, timeoutMs),
    transportAgent: agent,
    // Its own retry covers 5xx only, warns on the console, never drains the failed response and
    // retries stream bodies it cannot replay; ours (attempt below) replaces it.
    retryOptions: { disableRetry: true },
  });

  /** One S3 call with a deadline per attempt and jittered exponential backoff between attempts. */
  async function attempt<T>(what: string, fn: () => Promise<T>, o: { tries?: number; bytes?: number } = {}): Promise<T> {
    const tries = o.tries ?? retries + 1;
    const deadline = timeoutMs + Math.ceil((o.bytes ?? 0) / MIN_UPLOAD_BYTES_PER_MS);
    for (let i = 0; ; i++) {
      try {
        return await withDeadline(fn(), deadline, what);
      } catch (e) {
        if (!isTransient(e)) throw mapError(e, what);
        if (i + 1 >= tries) {
          throw new AppError("unavailable", `object storage unavailable (${what}): ${describe(e)}`, {
            cause: e,
            retryAfterSeconds: 5,
          });
        }
        const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** i);
        await Bun.sleep(backoff / 2 + Math.random() * (backoff / 2));
      }
    }
  }

  async function put(key: string, body: PutBody, o: { contentType?: string; maxBytes?: number } = {}) {
    validateKey(key);
    const hasher = new Bun.CryptoHasher("sha256");
    const headers: Record<string, string> = o.contentType ? { "Content-Type": o.contentType } : {};
    const parts = new PartBuffer(PART_SIZE);
    const source = chunksOf(body);
    const etags: { part: number; etag: string }[] = [];
    let size = 0;
    let uploadId: string | undefined;
    const sendPart = async (part: Buffer) => {
      const id = (uploadId ??= await attempt("start upload", () => client.initiateNewMultipartUpload(bucket, key, { ...headers })));
      const n = etags.length + 1;
      if (n > MAX_PARTS) throw tooLarge(key, PART_SIZE * MAX_PARTS);
      const req = { bucketName: bucket, objectName: key, uploadID: id, partNumber: n, headers: {} };
      const res = await attempt("upload part", () => client.uploadPart(req, part), { bytes: part.length });
      etags.push({ part: n, etag: res.etag });
    };
    try {
      for await (const chunk of source) {
        size += chunk.byteLength;
        if (o.maxBytes !== undefined && size > o.maxBytes) throw tooLarge(key, o.maxBytes);
        hasher.update(chunk);
        for (const part of parts.push(chunk)) await sendPart(part);
      }
      const rest = parts.rest();
      if (uploadId === undefined) {
        const sha256 = hasher.digest("hex");
        await attempt("put", () => putOne(key, rest, sha256, headers), { bytes: rest.length });
        return { key, size, sha256 } satisfies PutResult;
      } else {
        if (rest.length > 0) await sendPart(rest);
        await complete(key, uploadId, etags, size);
      }
    } catch (e) {
      await source.return(undefined);
      const id = uploadId;
      if (id !== undefined) await attempt("abort upload", () => client.abortMultipartUpload(bucket, key, id)).catch(() => {});
      throw e;
    }
    return { key, size, sha256: hasher.digest("hex") } satisfies PutResult;
  }

  /**
   * One PutObject. Over plain HTTP the request is signed with the body's SHA-256, which MinIO
   * checks against what arrives: we pass the hash we return anyway, where minio's putObject would
   * hash the body again (and MD5 it, unused, and copy it twice). It goes through Bun's fetch,
   * whose request body write costs a fraction of node:http's (833 KB: ~0.6 vs ~3 ms CPU). Over TLS
   * the client signs UNSIGNED-PAYLOAD and integrity rests on Content-MD5, so putObject stays.
   */
  async function putOne(key: string, body: Buffer, sha256: string, headers: Record<string, string>): Promise<void> {
    if (opts.useSSL) {
      await client.putObject(bucket, key, body, body.length, headers);
      return;
    }
    const internal = client as unknown as {
      getRequestOptions(o: object): { protocol: string; host: string; port: number; path: string; headers: Record<string, string> };
    };
    const req = internal.getRequestOptions({
      method: "PUT",
      bucketName: bucket,
      objectName: key,
      region: opts.region,
      headers: { ...headers, "content-length": String(body.length) },
    });
    const date = new Date();
    req.headers["x-amz-date"] = date
      .toISOString()
      .replace(/[-:]/g, "")
      .replace(/\.\d{3}Z$/, "Z");
    req.headers["x-amz-content-sha256"] = sha256;
    req.headers.authorization = signV4({ ...req, method: "PUT" }, opts.accessKey, opts.secretKey, opts.region, date, sha256);
    const { "content-length": _, host: __, ...sent } = req.headers;
    let res: Response;
    try {
      res = await fetch(`http://${req.headers.host}${req.path}`, {
        method: "PUT",
        headers: sent,
        body: new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.byteLength),
        signal: AbortSignal.timeout(timeoutMs + Math.ceil(body.length / MIN_UPLOAD_BYTES_PER_MS)),
      });
    } catch (e) {
      // Refused, reset or timed out: retried like the minio client's socket errors.
      throw Object.assign(new Error(`put: ${(e as Error).message}`), { code: "ECONNRESET", cause: e });
    }
    if (res.ok) {
      await res.arrayBuffer();
      return;
    }
    const text = await res.text();
    const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
    const message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1] ?? `HTTP ${res.status}`;
    if (!code && (res.status >= 500 || res.status === 429)) throw new Error(`Retryable HTTP status ${res.status}`);
    throw Object.assign(new Error(message), { code: code ?? `HTTP${res.status}` });
  }

  async function complete(key: string, id: string, etags: { part: number; etag: string }[], size: number) {
    try {
      await attempt("complete upload", () => client.completeMultipartUpload(bucket, key, id, etags));
    } catch (e) {
      // A retried Complete whose first try did land answers NoSuchUpload although the object exists.
      if (causeCode(e) !== "NoSuchUpload" || (await stat(key))?.size !== size) throw e;
    }
  }

  async function get(key: string, range?: ByteRange): Promise<ReadableStream<Uint8Array>> {
    validateKey(key);
    checkRange(range);
    const offset = range?.start ?? 0;
    const length = range?.end === undefined ? 0 : range.end - offset + 1;
    const body = await attempt("get", () => client.getPartialObject(bucket, key, offset, length));
    return toWebStream(body, timeoutMs, key);
  }

  async function stat(key: string): Promise<ObjectInfo | null> {
    validateKey(key);
    try {
      const s = await attempt("stat", () => client.statObject(bucket, key));
      return { key, size: s.size, lastModified: s.lastModified, etag: s.etag };
    } catch (e) {
      if (e instanceof AppError && e.code === "not_found") return null;
      throw e;
    }
  }

  async function* list(prefix: string): AsyncGenerator<ObjectInfo> {
    validatePrefix(prefix);
    let token = "";
    for (;;) {
      const t0 = performance.now();
      const page = await attempt("list", () => client.listObjectsV2Query(bucket, prefix, token, "", 1000, ""));
      addTiming("storage", performance.now() - t0);
      for (const o of page.objects) {
        if (o.name !== undefined) yield { key: o.name, size: Number(o.size), lastModified: o.lastModified, etag: o.etag };
      }
      if (!page.isTruncated) return;
      token = page.nextContinuationToken;
    }
  }

  async function del(key: string, o: { liftLegalHold?: boolean } = {}): Promise<void> {
    validateKey(key);
    if (versioned) return delVersions(key, o.liftLegalHold ?? false);
    await attempt("delete", () => client.removeObject(bucket, key)).catch((e) => {
      if (!(e instanceof AppError && e.code === "not_found")) throw e;
    });
  }

  /** Every version and delete marker of exactly this key; a version under legal hold refuses (409) unless lifted first. */
  async function delVersions(key: string, liftLegalHold: boolean): Promise<void> {
    for (const v of await versionsOf(key)) {
      if (locked && liftLegalHold && !v.deleteMarker) {
        await attempt("legal hold", () => client.setObjectLegalHold(bucket, key, { status: "OFF", versionId: v.id }) as unknown as Promise<void>).catch((e) => {
          if (!(e instanceof AppError && e.code === "not_found")) throw e;
        });
      }
      await attempt("delete", () => client.removeObject(bucket, key, { versionId: v.id })).catch((e) => {
        if (e instanceof AppError && e.code === "not_found") return;
        if (locked && /AccessDenied|InvalidRequest|WORM/i.test(causeCode(e) + describe(e)))
          throw new AppError("conflict", `object ${key} is under an S3 legal hold or retention and cannot be deleted`, { cause: e });
        throw e;
      });
    }
  }

  async function versionsOf(key: string): Promise<{ id: string; deleteMarker: boolean }[]> {
    const out: { id: string; deleteMarker: boolean }[] = [];
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    for (;;) {
      const page = await attempt("list versions", () =>
        client.listObjectsQuery(bucket, key, "", { Delimiter: "", MaxKeys: 1000, IncludeVersion: true, keyMarker, versionIdMarker }),
      );
      // A prefix listing: "a" also lists "ab"; keep the key's own versions.
      for (const o of page.objects as { name?: string; versionId?: string; isDeleteMarker?: boolean }[]) {
        if (o.name === key && o.versionId) out.push({ id: o.versionId, deleteMarker: Boolean(o.isDeleteMarker) });
      }
      const more = page as { isTruncated?: boolean; keyMarker?: string; versionIdMarker?: string };
      if (!more.isTruncated || (more.keyMarker === keyMarker && more.versionIdMarker === versionIdMarker)) return out;
      keyMarker = more.keyMarker;
      versionIdMarker = more.versionIdMarker;
    }
  }

  async function setLegalHold(key: string, on: boolean): Promise<void> {
    validateKey(key);
    if (!locked) throw noObjectLock();
    await attempt("legal hold", () => client.setObjectLegalHold(bucket, key, { status: on ? "ON" : "OFF" }) as unknown as Promise<void>);
  }

  async function legalHold(key: string): Promise<boolean> {
    validateKey(key);
    if (!locked) return false;
    // The client hands back the parsed <LegalHold> element: { Status: "ON" | "OFF" }.
    const r = (await attempt("legal hold", () => client.getObjectLegalHold(bucket, key))) as unknown;
    return (typeof r === "string" ? r : (r as { Status?: string } | undefined)?.Status) === "ON";
  }

  /** What the bucket does with deletes: plain, versioned, or versioned with object lock. */
  async function readBucketMode(): Promise<void> {
    locked = await attempt("object lock", () => client.getObjectLockConfig(bucket) as unknown as Promise<unknown>).then(
      (c) => (c as { objectLockEnabled?: string }).objectLockEnabled === "Enabled",
      (e) => {
        // A bucket made without object lock answers this (MinIO and AWS alike).
        if (/ObjectLockConfigurationNotFound/.test(causeCode(e) + String((e as Error)?.message))) return false;
        throw e;
      },
    );
    const v = await attempt("versioning", () => client.getBucketVersioning(bucket));
    versioned = locked || (v as { Status?: string } | undefined)?.Status === "Enabled";
  }

  async function ping(): Promise<void> {
    // One try: /readyz polls, and a slow answer there is worse than an honest "not yet".
    const exists = await attempt("ping", () => client.bucketExists(bucket), { tries: 1 });
    if (!exists) throw unavailable(`bucket ${bucket} does not exist`);
  }

  async function ensure(): Promise<void> {
    if (!(await attempt("bucket check", () => client.bucketExists(bucket)))) {
      await attempt("create bucket", () => client.makeBucket(bucket, opts.region, { ObjectLocking: opts.objectLock ?? false })).catch((e) => {
        // Another process (a second role starting alongside) may have won the race.
        if (causeCode(e) === "BucketAlreadyOwnedByYou") return;
        throw e;
      });
    }
    await readBucketMode();
    // Object lock can only be switched on when a bucket is made; running on an unlocked one would
    // let holds stop at the database while the operator believes MinIO enforces them.
    if (opts.objectLock && !locked) throw new AppError("conflict", objectLockMissing(bucket));
  }

  return {
    kind: "s3",
    put: (key, body, o) => timed("storage", () => put(key, body, o)),
    get: (key, range) => timed("storage", () => get(key, range)),
    getBytes: (key, range) => timed("storage", async () => readAll(await get(key, range))),
    stat: (key) => timed("storage", () => stat(key)),
    list,
    delete: (key, o) => timed("storage", () => del(key, o)),
    ping: () => timed("storage", ping),
    ensure: () => timed("storage", ensure),
    objectLock: () => locked,
    setLegalHold: (key, on) => timed("storage", () => setLegalHold(key, on)),
    legalHold: (key) => timed("storage", () => legalHold(key)),
    close: async () => agent.destroy(),
  };
}

/** Collects chunks and hands out exact PART_SIZE buffers, so memory per upload stays at one part. */
class PartBuffer {
  private chunks: Uint8Array[] = [];
  private held = 0;
  constructor(private readonly size: number) {}

  *push(chunk: Uint8Array): Generator<Buffer> {
    this.chunks.push(chunk);
    this.held += chunk.byteLength;
    while (this.held >= this.size) {
      const all = Buffer.concat(this.chunks, this.held);
      yield all.subarray(0, this.size);
      const tail = all.subarray(this.size);
      this.chunks = tail.length > 0 ? [tail] : [];
      this.held = tail.length;
    }
  }

  rest(): Buffer {
    return Buffer.concat(this.chunks, this.held);
  }
}

/**
 * The minio client has no per-call timeout. Setting one on each request makes a stalled socket
 * fail (and free itself) instead of hanging; it is cleared once headers arrive, because a body
 * being read slowly by a paused video player is not a fault. Body stalls are caught in toWebStream.
 */
function idleTimeoutTransport(useSSL: boolean, timeoutMs: number) {
  const mod = useSSL ? https : http;
  return {
    request(opt: http.RequestOptions, cb?: (res: http.IncomingMessage) => void): http.ClientRequest {
      const req = mod.request({ ...opt, timeout: timeoutMs }, (res) => {
        req.setTimeout(0);
        cb?.(res);
      });
      req.on("timeout", () => req.destroy(Object.assign(new Error("socket timeout"), { code: "ETIMEDOUT" })));
      return req;
    },
  } as unknown as typeof http;
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: Timer | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} timed out after ${ms} ms`), { code: "ETIMEDOUT" })), ms);
  });
  // The loser still settles later; keep its rejection from surfacing as unhandled.
  p.catch(() => {});
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Pull-based, so a consumer that stops reading is never mistaken for a stalled server: the idle
 * timer only runs while we are actually waiting for MinIO's next chunk.
 */
function toWebStream(body: Readable, idleMs: number, key: string): ReadableStream<Uint8Array> {
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const r = await withDeadline(it.next(), idleMs, "read");
        if (r.done) controller.close();
        else controller.enqueue(new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength));
      } catch (e) {
        body.destroy();
        controller.error(unavailable(`object storage read failed for ${key}: ${describe(e)}`, e));
      }
    },
    cancel() {
      body.destroy();
    },
  });
}

function s3Code(e: unknown): string {
  return String((e as { code?: unknown } | undefined)?.code ?? "");
}

function causeCode(e: unknown): string {
  return e instanceof AppError ? s3Code(e.cause) : s3Code(e);
}

function isTransient(e: unknown): boolean {
  if (e instanceof AppError) return false;
  if (TRANSIENT.has(s3Code(e))) return true;
  // With its retry disabled, the client reports a 5xx/429 as this plain Error rather than an S3Error.
  if (/Retryable HTTP status/.test(String((e as Error)?.message))) return true;
  return isTransientNetworkError(e) || /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE/.test(s3Code(e));
}

function mapError(e: unknown, what: string): unknown {
  if (e instanceof AppError) return e;
  const c = s3Code(e);
  if (NOT_FOUND.has(c)) return new AppError("not_found", "object not found", { cause: e });
  if (BAD_KEY.has(c) || /InvalidObjectName/.test(String((e as Error)?.name))) {
    return new AppError("bad_request", `invalid storage key: ${describe(e)}`, { cause: e });
  }
  if (c === "InvalidRange") return new AppError("bad_request", "byte range not satisfiable", { cause: e });
  // Anything else (NoSuchBucket, AccessDenied, bad signature) means storage is not usable as configured.
  return unavailable(`object storage ${what} failed: ${describe(e)}`, e);
}

export function objectLockMissing(bucket: string): string {
  return `bucket "${bucket}" exists without object lock, but the storage URL says object_lock=true (object lock is set when a bucket is created: use a new bucket made with it, e.g. \`mc mb --with-lock\`, or drop object_lock)`;
}

function unavailable(message: string, cause?: unknown): AppError {
  return new AppError("unavailable", message, { cause, retryAfterSeconds: 5 });
}

function describe(e: unknown): string {
  const c = s3Code(e);
  const m = (e as Error)?.message ?? String(e);
  return c && !m.includes(c) ? `${c}: ${m}` : m;
}
