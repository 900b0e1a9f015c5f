import type { Kysely } from "kysely";
import type { AuthUser } from "../auth/auth.service.ts";
import type { DB } from "../db/schema.ts";
import { audit } from "../audit/audit.service.ts";
import { AppError } from "../errors.ts";
import type { ObjectStore } from "../storage/store.ts";
import { containerOf, EXTENSION, SNIFF_BYTES, sniffMatches, type Container } from "./container.ts";
import { addSegmentJob, findChunk, insertChunk } from "./streams.repository.ts";
import { claimFormat } from "./cmaf-ingest.repository.ts";
import { reopenIfIdle } from "./idle.service.ts";
import { parseCaptureTime, writableStream } from "./streams.service.ts";

export const MAX_SEQ = 1_000_000;

export interface ChunkUpload {
  streamId: string;
  seq: string;
  contentType: string | null;
  contentLength: string | null;
  chunkStart: string | null;
  body: ReadableStream<Uint8Array> | null;
}

export interface ChunkResult {
  status: 200 | 201;
  seq: number;
  sha256: string;
}

/**
 * Passes the body through once its first bytes prove it is the declared container; a body that
 * ends before that, or starts wrong, errors the stream so the store writes nothing.
 */
function sniffed(body: ReadableStream<Uint8Array>, container: Container): ReadableStream<Uint8Array> {
  let head = new Uint8Array(0);
  let checked = false;
  const check = () => {
    checked = true;
    if (head.length === 0) throw new AppError("bad_request", "chunk body is empty");
    if (!sniffMatches(container, head)) throw new AppError("unsupported_media_type", `chunk body is not a ${container} file`);
  };
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        if (checked) return ctl.enqueue(chunk);
        const next = new Uint8Array(head.length + chunk.length);
        next.set(head);
        next.set(chunk, head.length);
        head = next;
        if (head.length >= SNIFF_BYTES) {
          check();
          ctl.enqueue(head);
        }
      },
      flush(ctl) {
        if (!checked) {
          check();
          ctl.enqueue(head);
        }
      },
    }),
  );
}

async function hashOnly(body: ReadableStream<Uint8Array>, maxBytes: number): Promise<string> {
  const h = new Bun.CryptoHasher("sha256");
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > maxBytes) throw new AppError("too_large", `chunk exceeds ${maxBytes} bytes`);
    h.update(c);
  }
  return h.digest("hex");
}

/**
 * PUT /streams/{id}/chunks/{seq}: the chunk is durable in object storage and recorded in Postgres
 * (with its segment job) before the answer. Retries of identical bytes get 200, different bytes
 * for a stored seq 409 and the original stays. Each upload writes its own object key, and the
 * database row decides the winner, so concurrent uploads of one seq never mix.
 */
export async function ingestChunk(db: Kysely<DB>, store: ObjectStore, user: AuthUser, up: ChunkUpload, maxBytes: number): Promise<ChunkResult> {
  const seq = Number(up.seq);
  if (!/^\d{1,7}$/.test(up.seq) || seq > MAX_SEQ) throw new AppError("bad_request", `seq must be an integer from 0 to ${MAX_SEQ}`);
  // Ended by the worker for silence: the reporter is back, so it is live again (idle.service.ts).
  const stream = await reopenIfIdle(db, store, await writableStream(db, user, up.streamId));
  if (stream.state !== "live") throw new AppError("conflict", `stream is ${stream.state}; it takes no more chunks`);
  if (stream.media_format === "cmaf") throw cmafStream();
  const container = containerOf(up.contentType);
  if (up.contentLength !== null) {
    const len = Number(up.contentLength);
    if (len > maxBytes) throw new AppError("too_large", `chunk exceeds ${maxBytes} bytes`);
    if (len === 0) throw new AppError("bad_request", "chunk body is empty");
  }
  const captureStart = up.chunkStart === null ? null : parseCaptureTime(up.chunkStart, "X-Chunk-Start");
  if (!up.body) throw new AppError("bad_request", "chunk body is empty");
  const body = sniffed(up.body, container);

  const existing = await findChunk(db, stream.id, seq);
  if (existing) return settleDuplicate(existing.sha256, await hashOnly(body, maxBytes), seq);

  const key = `streams/${stream.id}/chunks/${seq}/${crypto.randomUUID()}.${EXTENSION[container]}`;
  const put = await store.put(key, body, { contentType: up.contentType!.split(";")[0], maxBytes });
  try {
    const inserted = await db.transaction().execute(async (trx) => {
      // The first upload fixes the stream's format; a CMAF init that won the race makes this a 409.
      if (stream.media_format !== "classic" && !(await claimFormat(trx, stream.id, "classic"))) throw cmafStream();
      const row = await insertChunk(trx, {
        stream_id: stream.id,
        seq,
        object_key: key,
        sha256: put.sha256,
        size: put.size,
        content_type: up.contentType!,
        capture_start: captureStart,
        uploaded_by: user.id,
      });
      if (row) {
        await addSegmentJob(trx, stream.id, seq);
        await audit(trx, { action: "chunk.stored", targetType: "stream", targetId: stream.id, detail: { seq, sha256: put.sha256, size: put.size } });
      }
      return row;
    });
    if (inserted) return { status: 201, seq, sha256: put.sha256 };
  } catch (e) {
    await store.delete(key).catch(() => {});
    throw e;
  }
  // Another upload of this seq won the race: keep theirs, drop ours, answer as a retry would be.
  await store.delete(key).catch(() => {});
  const winner = await findChunk(db, stream.id, seq);
  return settleDuplicate(winner!.sha256, put.sha256, seq);
}

function cmafStream(): AppError {
  return new AppError(
    "conflict",
    "this stream is CMAF (it has an init segment); its chunks are video/iso.segment fragments — start a new stream for classic chunks",
  );
}

function settleDuplicate(stored: string, sent: string, seq: number): ChunkResult {
  if (stored !== sent) throw new AppError("conflict", `different bytes are already stored for seq ${seq}`, { detail: { stored_sha256: stored } });
  return { status: 200, seq, sha256: stored };
}
