import type { Kysely } from "kysely";
import type { DB } from "../db/schema.ts";
import { EVENTS_CHANNEL } from "../events/events.service.ts";
import type { ObjectStore } from "../storage/store.ts";
import { findPoster, POSTER_INTERVAL_MS, replacePoster } from "./streams.repository.ts";

/** True when the stream's poster is older than the poster interval (or missing). */
export async function posterDue(db: Kysely<DB>, streamId: string, now = Date.now()): Promise<boolean> {
  const s = await findPoster(db, streamId);
  return !!s && (!s.poster_at || now - new Date(s.poster_at).getTime() >= POSTER_INTERVAL_MS);
}

/**
 * Stores a poster JPEG (made from a chunk by segmenting or the poster jobs: a file; or sent by the
 * phone: checked bytes), points the stream at it and drops the previous one. `seq` is the chunk it
 * was made from, null for the phone's.
 */
export async function storePoster(
  deps: { db: Kysely<DB>; store: ObjectStore },
  streamId: string,
  seq: number | null,
  jpeg: string | Uint8Array,
): Promise<void> {
  const { db, store } = deps;
  const key = `streams/${streamId}/posters/${seq ?? "phone"}-${crypto.randomUUID()}.jpg`;
  await store.put(key, typeof jpeg === "string" ? Bun.file(jpeg).stream() : jpeg, { contentType: "image/jpeg" });
  // The row, the grid's poster.updated event and its NOTIFY in one statement: a phone sends a still every few seconds.
  const replaced = await replacePoster(db, streamId, key, { seq }, EVENTS_CHANNEL);
  if (replaced?.oldKey) await store.delete(replaced.oldKey).catch(() => {});
}
