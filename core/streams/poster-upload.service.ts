import type { Kysely } from "kysely";
import type { AuthUser } from "../auth/auth.service.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { jpegInfo } from "../media/jpeg.ts";
import type { ObjectStore } from "../storage/store.ts";
import { storePoster } from "./poster-store.ts";
import { writableStream } from "./streams.service.ts";
import { readBody } from "./upload-body.ts";

/**
 * The grid's still, sent by the phone (PUT /streams/{id}/poster, image/jpeg): the reporter page
 * draws its own camera frame every few seconds, so the server decodes nothing for a live tile.
 * While these arrive the stream's poster stays fresh and the ingest enqueues no poster job
 * (cmaf-parts.repository.ts posterDue); a client that sends none gets the batch job's posters.
 * Not evidence: the chunks are. Checked for what it claims (structure, size, dimensions) before
 * it is stored and served as image/jpeg.
 */
export const MAX_POSTER_BYTES = 256 * 1024;
/** A tile is a few hundred pixels wide; a full camera frame is allowed, nothing bigger. */
export const MAX_POSTER_SIDE = 1920;

export interface PosterUpload {
  streamId: string;
  contentType: string | null;
  contentLength: string | null;
  body: ReadableStream<Uint8Array> | null;
}

export async function uploadPoster(db: Kysely<DB>, store: ObjectStore, user: AuthUser, up: PosterUpload): Promise<{ width: number; height: number }> {
  const stream = await writableStream(db, user, up.streamId);
  if (stream.state !== "live") throw new AppError("conflict", `stream is ${stream.state}; its poster comes from the recording`);
  const type = (up.contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "image/jpeg") throw new AppError("unsupported_media_type", `a poster is image/jpeg; got ${type || "(no Content-Type)"}`);
  const bytes = await readBody(up.body, up.contentLength, MAX_POSTER_BYTES, "poster");
  const info = jpegInfo(bytes);
  if (!info.ok) throw new AppError("bad_request", `not a JPEG: ${info.detail}`);
  if (info.width < 1 || info.height < 1 || info.width > MAX_POSTER_SIDE || info.height > MAX_POSTER_SIDE) {
    throw new AppError("unprocessable", `a poster is 1–${MAX_POSTER_SIDE} pixels a side; this one is ${info.width}×${info.height}`, {
      detail: { width: info.width, height: info.height },
    });
  }
  await storePoster({ db, store }, stream.id, null, bytes);
  return { width: info.width, height: info.height };
}
