import { sql, type Kysely, type Transaction } from "kysely";
import type { DB } from "../db/schema.ts";

/** Thin queries for fixity: `db` first, no rules. */
type Db = Kysely<DB> | Transaction<DB>;

export type ObjectSource = "chunk" | "segment" | "recording" | "init";

/** One recorded expectation: this key should hold bytes with this sha256. */
export interface RecordedObject {
  object_key: string;
  sha256: string;
  source: ObjectSource;
  stream_id: string;
}

/**
 * The next `limit` distinct object keys after `after` (in the database's collation, the same for
 * every batch), with every row that records one of them: chunks (CMAF parts too), segments, CMAF
 * init segments and finished recordings.
 * A key recorded twice is read once and checked against both. Each source is read through its
 * object_key index with its own limit, so a batch costs the same at the end of a big table.
 */
export async function objectsAfter(db: Db, after: string | null, limit: number): Promise<RecordedObject[]> {
  const from = after ?? "";
  const { rows } = await sql<RecordedObject>`
    with k as (
      select object_key from (
        (select object_key from chunks where object_key > ${from} order by object_key limit ${limit})
        union
        (select object_key from segments where object_key > ${from} order by object_key limit ${limit})
        union
        (select object_key from stream_inits where object_key > ${from} order by object_key limit ${limit})
        union
        (select recording_key from streams where recording_key is not null and recording_sha256 is not null and recording_key > ${from} order by recording_key limit ${limit})
      ) u order by object_key limit ${limit}
    )
    select * from (
      select c.object_key, c.sha256, 'chunk' as source, c.stream_id from chunks c join k using (object_key)
      union all
      select s.object_key, s.sha256, 'segment', s.stream_id from segments s join k using (object_key)
      union all
      select i.object_key, i.sha256, 'init', i.stream_id from stream_inits i join k using (object_key)
      union all
      select st.recording_key, st.recording_sha256, 'recording', st.id from streams st join k on k.object_key = st.recording_key where st.recording_sha256 is not null
    ) o order by object_key, source`.execute(db);
  return rows;
}

export function findRun(db: Db, id: string) {
  return db.selectFrom("fixity_runs").selectAll().where("id", "=", id).executeTakeFirst();
}

/** Locks the run row: a duplicate job of the same batch waits, then sees the cursor moved. */
export function lockRun(db: Transaction<DB>, id: string) {
  return db.selectFrom("fixity_runs").selectAll().where("id", "=", id).forUpdate().executeTakeFirst();
}
export type FixityRunRow = NonNullable<Awaited<ReturnType<typeof findRun>>>;

export function latestUnfinishedRun(db: Db) {
  return db.selectFrom("fixity_runs").selectAll().where("finished_at", "is", null).orderBy("id", "desc").limit(1).executeTakeFirst();
}

export function supersedeUnfinishedRuns(db: Db) {
  return db
    .updateTable("fixity_runs")
    .set({ finished_at: sql`now()`, outcome: "superseded", updated_at: sql`now()` })
    .where("finished_at", "is", null)
    .execute();
}

export function insertRun(db: Db, r: { trigger: "schedule" | "manual"; cursor: string | null }) {
  return db.insertInto("fixity_runs").values(r).returningAll().executeTakeFirstOrThrow();
}

export interface Finding {
  object_key: string;
  expected_sha256: string;
  actual_sha256: string | null;
  reason: "mismatch" | "missing";
  source: ObjectSource;
  stream_id: string;
}

/** One open row per damaged object: a new detection updates it rather than adding another. */
export async function recordFindings(db: Db, runId: string, findings: Finding[]): Promise<void> {
  if (!findings.length) return;
  await db
    .insertInto("fixity_failures")
    .values(findings.map((f) => ({ ...f, run_id: runId })))
    .onConflict((oc) =>
      oc
        .column("object_key")
        .where("resolved_at", "is", null)
        .doUpdateSet((eb) => ({
          expected_sha256: eb.ref("excluded.expected_sha256"),
          actual_sha256: eb.ref("excluded.actual_sha256"),
          reason: eb.ref("excluded.reason"),
          source: eb.ref("excluded.source"),
          stream_id: eb.ref("excluded.stream_id"),
          run_id: eb.ref("excluded.run_id"),
          last_detected_at: sql`now()`,
          detections: sql`fixity_failures.detections + 1`,
        })),
    )
    .execute();
}

/** Open failures of objects that now read back right are closed, not deleted (evidence). */
export async function resolveFindings(db: Db, okKeys: string[]): Promise<void> {
  if (!okKeys.length) return;
  await db.updateTable("fixity_failures").set({ resolved_at: sql`now()` }).where("resolved_at", "is", null).where("object_key", "in", okKeys).execute();
}

export function advanceRun(
  db: Db,
  id: string,
  d: { checked: number; mismatches: number; missing: number; bytes: number; cursor: string | null; done: boolean },
) {
  return db
    .updateTable("fixity_runs")
    .set((eb) => ({
      objects_checked: eb("objects_checked", "+", d.checked),
      mismatches: eb("mismatches", "+", d.mismatches + d.missing),
      missing: eb("missing", "+", d.missing),
      bytes_checked: sql`bytes_checked + ${d.bytes}::bigint`,
      cursor: d.cursor,
      updated_at: sql`now()`,
      ...(d.done ? { finished_at: sql`now()`, outcome: "complete" } : {}),
    }))
    .where("id", "=", id)
    .execute();
}

export function listFailures(db: Db, opts: { open: boolean; limit: number; before?: string }) {
  let q = db.selectFrom("fixity_failures").selectAll();
  if (opts.open) q = q.where("resolved_at", "is", null);
  if (opts.before) q = q.where("id", "<", opts.before);
  return q.orderBy("id", "desc").limit(opts.limit).execute();
}

export async function integrityIndicators(db: Db): Promise<{ last_run_at: Date | null; objects_checked: number; mismatches_open: number }> {
  const { rows } = await sql<{ finished_at: Date | null; objects_checked: number | null; open: string }>`
    select r.finished_at, r.objects_checked, (select count(*) from fixity_failures where resolved_at is null) as open
    from (select 1) one
    left join lateral (select finished_at, objects_checked from fixity_runs where outcome = 'complete' order by finished_at desc limit 1) r on true`.execute(
    db,
  );
  const r = rows[0]!;
  return { last_run_at: r.finished_at, objects_checked: r.objects_checked ?? 0, mismatches_open: Number(r.open) };
}

/**
 * Chunks and CMAF inits whose recorded hash no `*.stored` audit entry of their stream carries:
 * changed (or added) outside rter. By object key.
 */
export async function unauditedObjects(db: Db) {
  const { rows } = await sql<{ object_key: string; source: ObjectSource; stream_id: string; sha256: string }>`
    select c.object_key, 'chunk' as source, c.stream_id, c.sha256 from chunks c
    where not exists (
      select 1 from audit_log a
      where a.action = 'chunk.stored' and a.target_type = 'stream' and a.target_id = c.stream_id::text
        and a.detail->>'seq' = c.seq::text and a.detail->>'sha256' = c.sha256)
    union all
    select i.object_key, 'init', i.stream_id, i.sha256 from stream_inits i
    where not exists (
      select 1 from audit_log a
      where a.action = 'init.stored' and a.target_type = 'stream' and a.target_id = i.stream_id::text
        and a.detail->>'sha256' = i.sha256)
    order by 1`.execute(db);
  return rows;
}

/** Chunks and CMAF inits recorded, together. */
export async function countAuditedKinds(db: Db): Promise<number> {
  const { rows } = await sql<{ n: string }>`select (select count(*) from chunks) + (select count(*) from stream_inits) as n`.execute(db);
  return Number(rows[0]!.n);
}
