import type { Insertable, Kysely, Transaction } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries for turning chunks into segments: `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

/** The newest seq the live playlist shows (late segments not counted), or -1. */
export async function liveEdge(db: Db, streamId: string): Promise<number> {
  const r = await db
    .selectFrom("segments")
    .select((eb) => eb.fn.max("seq").as("seq"))
    .where("stream_id", "=", streamId)
    .where("late", "=", false)
    .executeTakeFirst();
  return r?.seq ?? -1;
}

/** The segment right before seq (the highest seq below it), if any. */
export function previousSegment(db: Db, streamId: string, seq: number) {
  return db.selectFrom("segments").selectAll().where("stream_id", "=", streamId).where("seq", "<", seq).orderBy("seq", "desc").limit(1).executeTakeFirst();
}

/** The stream's mean segment duration in seconds; 0 when it has none. */
export async function meanSegmentDuration(db: Db, streamId: string): Promise<number> {
  const r = await db
    .selectFrom("segments")
    .select((eb) => eb.fn.avg<number>("duration").as("d"))
    .where("stream_id", "=", streamId)
    .executeTakeFirstOrThrow();
  return Number(r.d);
}

/** Whether a live (not late) segment after seq exists already. */
export async function hasLiveSegmentAfter(db: Db, streamId: string, seq: number): Promise<boolean> {
  return (
    (await db
      .selectFrom("segments")
      .select("seq")
      .where("stream_id", "=", streamId)
      .where("seq", ">", seq)
      .where("late", "=", false)
      .limit(1)
      .executeTakeFirst()) !== undefined
  );
}

/** Chunks with after < seq < before, in any state. */
export function chunksBetween(db: Db, streamId: string, after: number, before: number) {
  return db
    .selectFrom("chunks")
    .select(["seq", "state", "received_at"])
    .where("stream_id", "=", streamId)
    .where("seq", ">", after)
    .where("seq", "<", before)
    .execute();
}

/** The newest chunk still waiting for its segment. */
export function newestStoredChunk(db: Db, streamId: string) {
  return db.selectFrom("chunks").selectAll().where("stream_id", "=", streamId).where("state", "=", "stored").orderBy("seq", "desc").limit(1).executeTakeFirst();
}

/** Chunks waiting for their segment with from <= seq < before, oldest first. */
export function storedChunksBetween(db: Db, streamId: string, from: number, before: number) {
  return db
    .selectFrom("chunks")
    .select(["seq", "received_at"])
    .where("stream_id", "=", streamId)
    .where("state", "=", "stored")
    .where("seq", ">=", from)
    .where("seq", "<", before)
    .orderBy("seq")
    .execute();
}

export async function isChunkStored(db: Db, streamId: string, seq: number): Promise<boolean> {
  return (
    (await db.selectFrom("chunks").select("seq").where("stream_id", "=", streamId).where("seq", "=", seq).where("state", "=", "stored").executeTakeFirst()) !==
    undefined
  );
}

export async function markChunkSegmented(db: Db, streamId: string, seq: number): Promise<void> {
  await db.updateTable("chunks").set({ state: "segmented" }).where("stream_id", "=", streamId).where("seq", "=", seq).execute();
}

/** `reason` is shown to the reporter: one line of ours, never a tool's output. */
export async function markChunkFailed(db: Db, streamId: string, seq: number, reason: string): Promise<void> {
  await db.updateTable("chunks").set({ state: "failed", failure_reason: reason }).where("stream_id", "=", streamId).where("seq", "=", seq).execute();
}

export async function streamOwner(db: Db, streamId: string): Promise<string | null> {
  return (await db.selectFrom("streams").select("owner_id").where("id", "=", streamId).executeTakeFirst())?.owner_id ?? null;
}

export type NewSegment = Insertable<DB["segments"]>;

/** The segment row is the commit point: undefined when (stream, seq) has one already. */
export function insertSegment(db: Db, s: NewSegment) {
  return db
    .insertInto("segments")
    .values(s)
    .onConflict((oc) => oc.columns(["stream_id", "seq"]).doNothing())
    .returning("seq")
    .executeTakeFirst();
}
