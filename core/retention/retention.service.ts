import type { Kysely } from "kysely";
import { audit } from "../audit/audit.service.ts";
import type { AuthUser } from "../auth/auth.service.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { publish } from "../events/events.service.ts";
import type { Logger } from "../log.ts";
import { enqueue } from "../queue/enqueue.ts";
import type { ObjectStore } from "../storage/store.ts";
import { isUuid } from "../ids.ts";
import { tagOr404 } from "../tags/tags.service.ts";
import { activeHold, holdTargetOfItem } from "./holds.service.ts";
import * as repo from "./retention.repository.ts";

/**
 * Deletion and retention of streams and other items. The database is the guard: triggers refuse
 * to delete any row of a held stream (streams, chunks, segments, telemetry, its item) or a held
 * item, for every caller including this module, admins and direct SQL. The checks here only give
 * a clear answer and an audit record before the trigger would.
 */
export interface RetentionDeps {
  db: Kysely<DB>;
  store: ObjectStore;
  log: Logger;
}

/** Every object of a stream lives under this prefix (chunks, segments, posters, recording). */
export function streamPrefix(id: string): string {
  if (!isUuid(id)) throw new AppError("bad_request", "not a stream id");
  return `streams/${id.toLowerCase()}/`;
}

/**
 * Deletes a stream's rows (its chunks, segments, telemetry and item go with it) and then its
 * objects. The rows go first, in one transaction with the audit record and a purge job: if this
 * process dies before the objects are gone, a worker finishes the purge. Objects of a held
 * stream are never touched, because the row delete fails first.
 */
export async function deleteStream(deps: RetentionDeps, id: string, by: "admin" | "retention"): Promise<{ objects: number }> {
  const { db } = deps;
  if (!isUuid(id)) throw new AppError("not_found", "no such stream");
  const hold = await activeHold(db, { stream_id: id });
  if (hold) {
    await audit(db, {
      action: "stream.delete_refused",
      targetType: "stream",
      targetId: id,
      detail: { by, hold_id: hold.id, reason: hold.reason },
      ...(by === "retention" ? { actor: null } : {}),
    });
    throw new AppError("conflict", "the stream is under legal hold and cannot be deleted", { detail: { hold_id: hold.id } });
  }
  const prefix = streamPrefix(id);
  try {
    await db.transaction().execute(async (trx) => {
      // The row lock orders us after any hold being placed right now (it locks the row too).
      const s = await repo.lockStreamForDelete(trx, id);
      if (!s) throw new AppError("not_found", "no such stream");
      const chunks = await repo.countChunks(trx, id);
      await repo.deleteStreamRow(trx, id);
      await enqueue(trx, "purge_objects", { prefix }, { jobKey: `purge:${id}` });
      await publish(trx, { type: "stream.deleted", streamId: id, ownerId: s.owner_id, data: { by } });
      await audit(trx, {
        action: by === "retention" ? "retention.deleted" : "stream.deleted",
        targetType: "stream",
        targetId: id,
        detail: { title: s.title, owner_id: s.owner_id, state: s.state, created_at: new Date(s.created_at).toISOString(), chunks },
        ...(by === "retention" ? { actor: null } : {}),
      });
    });
  } catch (e) {
    // The trigger: a hold placed between our check and the delete.
    if ((e as { code?: string }).code === "RTH01") throw new AppError("conflict", "the stream is under legal hold and cannot be deleted");
    throw e;
  }
  // Right away as well, so the bytes are gone when the call returns; the job covers a failure here.
  try {
    return { objects: await purgeObjects(deps.store, prefix) };
  } catch (e) {
    deps.log.warn("object purge deferred to the purge_objects job", { prefix, err: (e as Error).message });
    return { objects: 0 };
  }
}

const PHOTO_KEY = /^items\/photos\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(jpg|png|webp)$/;

/**
 * Deletes the objects of a deleted stream (`streams/<id>/`) or one deleted item's photo
 * (`items/photos/<uuid>.<ext>`). Refuses anything else, and anything whose row still exists: the
 * database decides what may go, so an S3 legal hold left on these objects is lifted first.
 */
export async function purgeObjects(store: ObjectStore, prefix: string, db?: Kysely<DB>): Promise<number> {
  if (PHOTO_KEY.test(prefix)) {
    if (db && (await repo.photoInUse(db, prefix))) {
      throw new AppError("conflict", `an item still uses ${prefix}; it stays`);
    }
    await store.delete(prefix, { liftLegalHold: true });
    return 1;
  }
  const m = /^streams\/([0-9a-f-]{36})\/$/.exec(prefix);
  if (!m || !isUuid(m[1]!)) throw new AppError("bad_request", `refusing to purge "${prefix}": not a stream prefix or photo key`);
  if (db && (await repo.streamExists(db, m[1]!))) {
    throw new AppError("conflict", `stream ${m[1]} still exists; its objects stay`);
  }
  const keys: string[] = [];
  for await (const o of store.list(prefix)) keys.push(o.key);
  for (const k of keys) await store.delete(k, { liftLegalHold: true });
  return keys.length;
}

/**
 * Deletes an item. A stream's item goes with its stream (deleteStream); any other item's row
 * goes in one transaction with its event, audit record and the purge of its photo.
 */
export async function deleteItem(deps: RetentionDeps, id: string, by: "admin" | "retention"): Promise<{ objects: number }> {
  const { db } = deps;
  const target = await holdTargetOfItem(db, id);
  if ("stream_id" in target) return deleteStream(deps, target.stream_id, by);
  const actor = by === "retention" ? { actor: null } : {};
  const hold = await activeHold(db, { item_id: id });
  if (hold) {
    await audit(db, { action: "item.delete_refused", targetType: "item", targetId: id, detail: { by, hold_id: hold.id, reason: hold.reason }, ...actor });
    throw new AppError("conflict", "the item is under legal hold and cannot be deleted", { detail: { hold_id: hold.id } });
  }
  let photo: string | null = null;
  try {
    await db.transaction().execute(async (trx) => {
      const row = await repo.lockItemForDelete(trx, id);
      if (!row) throw new AppError("not_found", "no such item");
      await repo.deleteItemRow(trx, id);
      photo = row.photo_key;
      if (photo) await enqueue(trx, "purge_objects", { prefix: photo }, { jobKey: `purge:${id}` });
      await publish(trx, { type: "item.deleted", ownerId: row.author_id, data: { item_id: id, by } });
      await audit(trx, {
        action: by === "retention" ? "retention.deleted" : "item.deleted",
        targetType: "item",
        targetId: id,
        detail: {
          kind: row.kind,
          title: row.title,
          author_id: row.author_id,
          photo_sha256: row.photo_sha256,
          created_at: new Date(row.created_at).toISOString(),
        },
        ...actor,
      });
    });
  } catch (e) {
    if ((e as { code?: string }).code === "RTH01") throw new AppError("conflict", "the item is under legal hold and cannot be deleted");
    throw e;
  }
  if (!photo) return { objects: 0 };
  try {
    return { objects: await purgeObjects(deps.store, photo) };
  } catch (e) {
    deps.log.warn("object purge deferred to the purge_objects job", { key: photo, err: (e as Error).message });
    return { objects: 0 };
  }
}

/** keepDays null = keep forever (overrides --retention). */
export async function setRetention(db: Kysely<DB>, user: AuthUser, streamId: string, keepDays: number | null) {
  if (!isUuid(streamId) || !(await repo.streamExists(db, streamId))) throw new AppError("not_found", "no such stream");
  await repo.upsertStreamRetention(db, streamId, keepDays, user.id);
  await audit(db, { action: "retention.set", targetType: "stream", targetId: streamId, detail: { keep_days: keepDays } });
  return { stream_id: streamId, keep_days: keepDays };
}

/** keepDays null = keep forever; the workspace's items follow it unless their stream has its own setting. */
export async function setWorkspaceRetention(db: Kysely<DB>, user: AuthUser, tag: string, keepDays: number | null) {
  const t = await tagOr404(db, tag);
  await repo.upsertWorkspaceRetention(db, t.id, keepDays, user.id);
  await audit(db, { action: "retention.set", targetType: "tag", targetId: t.id, detail: { tag: t.name, keep_days: keepDays } });
  return { tag: t.name, keep_days: keepDays };
}

/** Back to the --retention default for this workspace's items. */
export async function clearWorkspaceRetention(db: Kysely<DB>, user: AuthUser, tag: string) {
  const t = await tagOr404(db, tag);
  await repo.deleteWorkspaceRetention(db, t.id);
  await audit(db, { action: "retention.cleared", targetType: "tag", targetId: t.id, detail: { tag: t.name, set_by: user.id } });
}

/** Items whose retention has run out, oldest first (the rules: retention.repository.ts). */
export function expiredItems(db: Kysely<DB>, defaultMs: number | null, limit: number): Promise<string[]> {
  return repo.expiredItems(db, defaultMs, limit);
}

/** One batch of the retention job: deletes up to `limit` expired items; a held one is skipped, never deleted. */
export async function sweepRetention(
  deps: RetentionDeps,
  defaultMs: number | null,
  limit: number,
): Promise<{ deleted: number; refused: number; more: boolean }> {
  const ids = await expiredItems(deps.db, defaultMs, limit);
  let deleted = 0;
  let refused = 0;
  for (const id of ids) {
    try {
      await deleteItem(deps, id, "retention");
      deleted++;
    } catch (e) {
      // A hold placed since the query, or an item deleted by someone else meanwhile.
      if (e instanceof AppError && (e.code === "conflict" || e.code === "not_found")) refused++;
      else throw e;
    }
  }
  return { deleted, refused, more: ids.length === limit };
}
