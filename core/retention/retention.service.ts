import { sql, type Kysely } from "kysely";
import { audit } from "../audit/audit.service.ts";
import type { AuthUser } from "../auth/auth.service.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { publish } from "../events/events.service.ts";
import type { Logger } from "../log.ts";
import { enqueue } from "../queue/enqueue.ts";
import type { ObjectStore } from "../storage/store.ts";

/**
 * Deletion, legal hold and retention of streams. The database is the guard: a trigger refuses
 * to delete any row of a stream under an active hold (streams, chunks, segments, telemetry), for
 * every caller including this module, admins and direct SQL. The checks here only give a clear
 * answer and an audit record before the trigger would.
 */
export interface RetentionDeps {
  db: Kysely<DB>;
  store: ObjectStore;
  log: Logger;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Every object of a stream lives under this prefix (chunks, segments, posters, recording). */
export function streamPrefix(id: string): string {
  if (!UUID.test(id)) throw new AppError("bad_request", "not a stream id");
  return `streams/${id.toLowerCase()}/`;
}

async function holdOf(db: Kysely<DB>, streamId: string) {
  return db.selectFrom("legal_holds").selectAll().where("stream_id", "=", streamId).where("released_at", "is", null).executeTakeFirst();
}

/**
 * Deletes a stream's rows (its chunks, segments, telemetry and item go with it) and then its
 * objects. The rows go first, in one transaction with the audit record and a purge job: if this
 * process dies before the objects are gone, a worker finishes the purge. Objects of a held
 * stream are never touched, because the row delete fails first.
 */
export async function deleteStream(deps: RetentionDeps, id: string, by: "admin" | "retention"): Promise<{ objects: number }> {
  const { db } = deps;
  if (!UUID.test(id)) throw new AppError("not_found", "no such stream");
  const hold = await holdOf(db, id);
  if (hold) {
    await audit(db, { action: "stream.delete_refused", targetType: "stream", targetId: id, detail: { by, hold_id: hold.id, reason: hold.reason }, ...(by === "retention" ? { actor: null } : {}) });
    throw new AppError("conflict", "the stream is under legal hold and cannot be deleted", { detail: { hold_id: hold.id } });
  }
  const prefix = streamPrefix(id);
  try {
    await db.transaction().execute(async (trx) => {
      // The row lock orders us after any hold being placed right now (it locks the row too).
      const s = await trx.selectFrom("streams").select(["id", "owner_id", "title", "state", "created_at"]).where("id", "=", id).forUpdate().executeTakeFirst();
      if (!s) throw new AppError("not_found", "no such stream");
      const counts = await trx.selectFrom("chunks").select((eb) => eb.fn.countAll<string>().as("n")).where("stream_id", "=", id).executeTakeFirstOrThrow();
      await trx.deleteFrom("streams").where("id", "=", id).execute();
      await enqueue(trx, "purge_objects", { prefix }, { jobKey: `purge:${id}` });
      await publish(trx, { type: "stream.deleted", streamId: id, ownerId: s.owner_id, data: { by } });
      await audit(trx, {
        action: by === "retention" ? "retention.deleted" : "stream.deleted",
        targetType: "stream",
        targetId: id,
        detail: { title: s.title, owner_id: s.owner_id, state: s.state, created_at: new Date(s.created_at).toISOString(), chunks: Number(counts.n) },
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

/** Deletes every object under a deleted stream's prefix. Refuses while any row of that stream exists. */
export async function purgeObjects(store: ObjectStore, prefix: string, db?: Kysely<DB>): Promise<number> {
  const m = /^streams\/([0-9a-f-]{36})\/$/.exec(prefix);
  if (!m || !UUID.test(m[1]!)) throw new AppError("bad_request", `refusing to purge "${prefix}": not a stream prefix`);
  if (db && (await db.selectFrom("streams").select("id").where("id", "=", m[1]!).executeTakeFirst())) {
    throw new AppError("conflict", `stream ${m[1]} still exists; its objects stay`);
  }
  const keys: string[] = [];
  for await (const o of store.list(prefix)) keys.push(o.key);
  for (const k of keys) await store.delete(k);
  return keys.length;
}

export async function placeHold(db: Kysely<DB>, user: AuthUser, streamId: string, reason: string) {
  return db.transaction().execute(async (trx) => {
    const s = UUID.test(streamId) ? await trx.selectFrom("streams").select("id").where("id", "=", streamId).forUpdate().executeTakeFirst() : undefined;
    if (!s) throw new AppError("not_found", "no such stream");
    const existing = await trx.selectFrom("legal_holds").select("id").where("stream_id", "=", streamId).where("released_at", "is", null).executeTakeFirst();
    if (existing) throw new AppError("conflict", "the stream is already under legal hold", { detail: { hold_id: existing.id } });
    const hold = await trx.insertInto("legal_holds").values({ stream_id: streamId, reason, placed_by: user.id }).returningAll().executeTakeFirstOrThrow();
    await audit(trx, { action: "hold.placed", targetType: "stream", targetId: streamId, detail: { hold_id: hold.id, reason } });
    return holdView(hold);
  });
}

export async function releaseHold(db: Kysely<DB>, user: AuthUser, streamId: string, reason: string | null) {
  return db.transaction().execute(async (trx) => {
    const hold = await trx
      .updateTable("legal_holds")
      .set({ released_at: sql`now()`, released_by: user.id, release_reason: reason })
      .where("stream_id", "=", streamId)
      .where("released_at", "is", null)
      .returningAll()
      .executeTakeFirst();
    if (!hold) throw new AppError("not_found", "the stream has no active legal hold");
    await audit(trx, { action: "hold.released", targetType: "stream", targetId: streamId, detail: { hold_id: hold.id, reason } });
    return holdView(hold);
  });
}

type HoldRow = { id: string; stream_id: string | null; item_id: string | null; reason: string; placed_by: string | null; placed_at: Date | string; released_by: string | null; released_at: Date | string | null; release_reason: string | null };

export function holdView(h: HoldRow) {
  return {
    id: h.id,
    stream_id: h.stream_id,
    item_id: h.item_id,
    reason: h.reason,
    placed_by: h.placed_by,
    placed_at: new Date(h.placed_at).toISOString(),
    released_by: h.released_by,
    released_at: h.released_at ? new Date(h.released_at).toISOString() : null,
    release_reason: h.release_reason,
  };
}

export async function listHolds(db: Kysely<DB>, includeReleased: boolean) {
  let q = db.selectFrom("legal_holds").selectAll();
  if (!includeReleased) q = q.where("released_at", "is", null);
  return (await q.orderBy("placed_at", "desc").limit(1000).execute()).map(holdView);
}

/** keepDays null = keep forever (overrides --retention). */
export async function setRetention(db: Kysely<DB>, user: AuthUser, streamId: string, keepDays: number | null) {
  const s = UUID.test(streamId) ? await db.selectFrom("streams").select("id").where("id", "=", streamId).executeTakeFirst() : undefined;
  if (!s) throw new AppError("not_found", "no such stream");
  await db
    .insertInto("stream_retention")
    .values({ stream_id: streamId, keep_days: keepDays, set_by: user.id })
    .onConflict((oc) => oc.column("stream_id").doUpdateSet({ keep_days: keepDays, set_by: user.id, set_at: sql`now()` }))
    .execute();
  await audit(db, { action: "retention.set", targetType: "stream", targetId: streamId, detail: { keep_days: keepDays } });
  return { stream_id: streamId, keep_days: keepDays };
}

/**
 * Streams whose retention has run out: finished (or failed) longer ago than their own keep_days,
 * or than the default when they have none; never live ones, never held ones.
 */
export async function expiredStreams(db: Kysely<DB>, defaultMs: number | null, limit: number): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    select s.id from streams s
    left join stream_retention r on r.stream_id = s.id
    where s.state <> 'live'
      and case
        when r.stream_id is not null then r.keep_days is not null and coalesce(s.finished_at, s.created_at) < now() - make_interval(days => r.keep_days)
        else ${defaultMs}::float8 is not null and coalesce(s.finished_at, s.created_at) < now() - make_interval(secs => ${defaultMs === null ? null : defaultMs / 1000}::float8)
      end
      and not rter_hold_active(s.id, null)
    order by coalesce(s.finished_at, s.created_at)
    limit ${limit}`.execute(db);
  return rows.map((r) => r.id);
}

/** One batch of the retention job: deletes up to `limit` expired streams; a held one is skipped, never deleted. */
export async function sweepRetention(deps: RetentionDeps, defaultMs: number | null, limit: number): Promise<{ deleted: number; refused: number; more: boolean }> {
  const ids = await expiredStreams(deps.db, defaultMs, limit);
  let deleted = 0;
  let refused = 0;
  for (const id of ids) {
    try {
      await deleteStream(deps, id, "retention");
      deleted++;
    } catch (e) {
      // A hold placed since the query, or a stream deleted by someone else meanwhile.
      if (e instanceof AppError && (e.code === "conflict" || e.code === "not_found")) refused++;
      else throw e;
    }
  }
  return { deleted, refused, more: ids.length === limit };
}
