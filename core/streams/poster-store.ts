import type { Kysely } from "kysely";
import type { DB } from "../db/schema.ts";
import { publish } from "../events/events.service.ts";
import type { ObjectStore } from "../storage/store.ts";
import { findPoster, POSTER_INTERVAL_MS, setPoster } from "./streams.repository.ts";

/** True when the stream's poster is older than the poster interval (or missing). */
export async function posterDue(db: Kysely<DB>, streamId: string, now = Date.now()): Promise<boolean> {
  const s = await findPoster(db, streamId);
  return !!s && (!s.poster_at || now - new Date(s.poster_at).getTime() >= POSTER_INTERVAL_MS);
}

/**
 * Stores a made poster JPEG (from segmenting a chunk, or from the poster jobs), points the stream
 * at it and drops the previous one.
 */
export async function storePoster(deps: { db: Kysely<DB>; store: ObjectStore }, streamId: string, seq: number, file: string): Promise<void> {
  const { db, store } = deps;
  const key = `streams/${streamId}/posters/${seq}-${crypto.randomUUID()}.jpg`;
  await store.put(key, Bun.file(file).stream(), { contentType: "image/jpeg" });
  const old = await findPoster(db, streamId);
  await db.transaction().execute(async (trx) => {
    const s = await setPoster(trx, streamId, key);
    if (s) await publish(trx, { type: "poster.updated", streamId, ownerId: s.owner_id, data: { seq } });
  });
  if (old?.poster_key) await store.delete(old.poster_key).catch(() => {});
}
