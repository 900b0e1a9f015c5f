import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";
import type { InitTrack } from "../media/fmp4.ts";
import { PARTS_CHANNEL, type CmafChunkMedia } from "./cmaf.model.ts";

/** Thin queries of CMAF ingest (init segments, parts, the stream's format): `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

/**
 * Fixes the stream's media format unless another is already fixed; false when it is. Callers
 * skip it once the row says their format, so only the first uploads take the row lock.
 */
export async function claimFormat(db: Db, streamId: string, format: "classic" | "cmaf"): Promise<boolean> {
  const r = await db
    .updateTable("streams")
    .set({ media_format: format })
    .where("id", "=", streamId)
    .where((eb) => eb.or([eb("media_format", "is", null), eb("media_format", "=", format)]))
    .returning("id")
    .executeTakeFirst();
  return r !== undefined;
}

/** The stored init with its tracks (InitTrack: CmafTrack plus the trex defaults fragments need). */
export async function findInitTracks(db: Db, streamId: string) {
  const r = await db.selectFrom("stream_inits").select(["sha256", "tracks"]).where("stream_id", "=", streamId).executeTakeFirst();
  return r && { sha256: r.sha256, tracks: r.tracks as unknown as InitTrack[] };
}

/** Returns nothing when the stream already has an init: first writer wins. */
export function insertInit(db: Db, i: { stream_id: string; object_key: string; sha256: string; size: number; content_type: string; tracks: InitTrack[]; uploaded_by: string }) {
  return db
    .insertInto("stream_inits")
    .values({ ...i, tracks: JSON.stringify(i.tracks) })
    .onConflict((oc) => oc.column("stream_id").doNothing())
    .returning("stream_id")
    .executeTakeFirst();
}

export interface NeighbourPart {
  seq: number;
  media: CmafChunkMedia;
}

/**
 * The parts just before seq (up to `back` seqs, newest first) and the one right after: what the
 * continuity and key-frame checks compare with.
 */
export async function neighbourParts(db: Db, streamId: string, seq: number, back: number): Promise<{ before: NeighbourPart[]; after: NeighbourPart | null }> {
  const rows = await db
    .selectFrom("chunks")
    .select(["seq", "media"])
    .where("stream_id", "=", streamId)
    .where("seq", ">=", seq - back)
    .where("seq", "<=", seq + 1)
    .where("seq", "!=", seq)
    .where("media", "is not", null)
    .orderBy("seq", "desc")
    .execute();
  const parts: NeighbourPart[] = rows.map((r) => ({ seq: r.seq, media: r.media as unknown as CmafChunkMedia }));
  return { before: parts.filter((p) => p.seq < seq), after: parts.find((p) => p.seq === seq + 1) ?? null };
}

/** Receive time of the nearest non-late part after seq, and the database's clock (the gap rule's inputs). */
export async function nextPartReceived(db: Db, streamId: string, seq: number): Promise<{ nextReceivedAt: Date | null; nowMs: number }> {
  const r = await sql<{ received_at: Date | null; now_ms: number }>`
    select (select received_at from chunks where stream_id = ${streamId} and seq > ${seq} and not late order by seq limit 1) as received_at,
           (extract(epoch from now()) * 1000)::float8 as now_ms`.execute(db);
  const row = r.rows[0]!;
  return { nextReceivedAt: row.received_at ? new Date(row.received_at) : null, nowMs: Number(row.now_ms) };
}

/** Returns nothing when a chunk for (stream, seq) is already recorded: first writer wins. */
export function insertPart(
  db: Db,
  c: { stream_id: string; seq: number; object_key: string; sha256: string; size: number; content_type: string; capture_start: Date | null; uploaded_by: string; media: CmafChunkMedia; duration: number; independent: boolean; late: boolean },
) {
  return db
    .insertInto("chunks")
    .values({ ...c, media: JSON.stringify(c.media), state: "listed" })
    .onConflict((oc) => oc.columns(["stream_id", "seq"]).doNothing())
    .returning("seq")
    .executeTakeFirst();
}

/** Wakes blocked playlist reloads on every API node; Postgres delivers it when the transaction commits. */
export async function notifyParts(db: Db, streamId: string): Promise<void> {
  await sql`select pg_notify(${PARTS_CHANNEL}, ${streamId})`.execute(db);
}
