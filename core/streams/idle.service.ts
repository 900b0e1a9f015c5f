import type { Kysely } from "kysely";
import { audit } from "../audit/audit.service.ts";
import type { DB } from "../db/schema.ts";
import { publish } from "../events/events.service.ts";
import type { ObjectStore } from "../storage/store.ts";
import { addRecordingJob, findStream, finishSilentStreams, reopenIdleStream, type StreamRow } from "./streams.repository.ts";

/**
 * A reporter whose phone died or who walked away never sends "finish": without this their stream
 * would stay live for ever (no recording, never reached by retention, a dead tile on every
 * console). The worker finishes streams silent for --stream-idle-finish, marked `finished_by =
 * 'idle'`; should the reporter's outbox deliver late chunks after all, the stream goes live again
 * and takes them (evidence is never refused because the server gave up waiting), and its
 * recording is made again when it ends.
 */
export async function finishIdleStreams(db: Kysely<DB>, idleMs: number, limit = 200): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    // Silence counts from the newest chunk received, else from the stream's creation.
    const rows = await finishSilentStreams(trx, idleMs, limit);
    for (const r of rows) {
      await addRecordingJob(trx, r.id);
      await publish(trx, { type: "stream.finished", streamId: r.id, ownerId: r.owner_id, data: { by: "idle", silent_since: new Date(r.last).toISOString() } });
      await audit(trx, {
        action: "stream.finished_idle",
        targetType: "stream",
        targetId: r.id,
        detail: { silent_since: new Date(r.last).toISOString(), idle_ms: idleMs },
        actor: null,
      });
    }
    return rows.map((r) => r.id);
  });
}

/**
 * A stream the worker ended for silence goes live again when its reporter comes back with more.
 * Its recording (made from the part before the silence) is dropped: the next finish makes one
 * of the whole stream. Returns the stream as it is now (unchanged when it was not idle-finished).
 */
export async function reopenIfIdle(db: Kysely<DB>, store: ObjectStore, s: StreamRow): Promise<StreamRow> {
  if (s.state !== "finished" || s.finished_by !== "idle") return s;
  const old = await db.transaction().execute(async (trx) => {
    const row = await reopenIdleStream(trx, s.id);
    if (!row) return undefined;
    await publish(trx, { type: "stream.reopened", streamId: s.id, ownerId: s.owner_id, data: { by: "reporter" } });
    await audit(trx, {
      action: "stream.reopened",
      targetType: "stream",
      targetId: s.id,
      detail: { finished_at: s.finished_at ? new Date(s.finished_at).toISOString() : null, recording_sha256: s.recording_sha256 },
    });
    return { recording: s.recording_key };
  });
  if (old?.recording) {
    // Best effort: an S3 legal hold on it, or storage down, leaves the object under the stream's
    // prefix (the row no longer points at it), and it goes with the stream's other objects.
    await store.delete(old.recording).catch(() => {});
  }
  return (await findStream(db, s.id))!;
}
