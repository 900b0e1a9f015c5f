import type { Kysely } from "kysely";
import type { DB } from "../db/schema.ts";
import { AppError, isAppError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { enqueue } from "../queue/enqueue.ts";
import type { ObjectStore } from "../storage/store.ts";
import * as repo from "./fixity.repository.ts";

/** Objects per batch job unless the payload says otherwise, and the most it may say. */
export const DEFAULT_BATCH = 200;
export const MAX_BATCH = 5_000;
/** Objects read at once within a batch. */
const READ_PARALLEL = 4;
/** An unfinished run that made no progress this long has lost its job; a new run replaces it. */
const STALE_RUN_MS = 6 * 3_600_000;
/** Every fixity job shares this named queue: batches never overlap, runs never interleave reads. */
export const FIXITY_QUEUE = "fixity";

export interface FixityPayload {
  /** Continue this run; absent = start a new one. */
  runId: string | null;
  /** Start after this object key. */
  after: string | null;
  limit: number;
  trigger: "schedule" | "manual";
}

/** Validates a fixity_check payload; graphile-worker's `_cron` member and unknown keys are ignored. */
export function parseFixityPayload(p: unknown): FixityPayload {
  const o = (p ?? {}) as Record<string, unknown>;
  if (typeof o !== "object" || Array.isArray(o)) throw new AppError("bad_request", "fixity_check payload must be an object");
  const runId = o.run_id ?? null;
  if (runId !== null && !(typeof runId === "string" && /^[1-9]\d{0,17}$/.test(runId)))
    throw new AppError("bad_request", "fixity_check run_id must be a positive integer string");
  const after = o.after ?? null;
  if (after !== null && !(typeof after === "string" && after.length > 0 && after.length <= 1024))
    throw new AppError("bad_request", "fixity_check after must be an object key");
  const limit = o.limit ?? DEFAULT_BATCH;
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_BATCH)
    throw new AppError("bad_request", `fixity_check limit must be 1..${MAX_BATCH}`);
  const trigger = o._cron !== undefined || o.trigger === "schedule" ? "schedule" : "manual";
  return { runId: runId as string | null, after: after as string | null, limit, trigger };
}

export interface FixityDeps {
  db: Kysely<DB>;
  store: ObjectStore;
  log: Logger;
}

/** SHA-256 of an object, computed while streaming it; null when the object does not exist. */
export async function hashObject(store: ObjectStore, key: string, signal?: AbortSignal): Promise<{ sha256: string; size: number } | null> {
  let body: ReadableStream<Uint8Array>;
  try {
    body = await store.get(key);
  } catch (e) {
    // Only "not found" is a finding; an unreachable store fails the job, which is retried.
    if (isAppError(e) && e.code === "not_found") return null;
    throw e;
  }
  const hasher = new Bun.CryptoHasher("sha256");
  const reader = body.getReader();
  let size = 0;
  let done = false;
  try {
    for (;;) {
      if (signal?.aborted) throw new Error("aborted: worker shutting down");
      const r = await reader.read();
      if (r.done) break;
      hasher.update(r.value);
      size += r.value.byteLength;
    }
    done = true;
  } finally {
    if (!done) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  return { sha256: hasher.digest("hex"), size };
}

async function mapLimit<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

export type BatchOutcome =
  | { kind: "skipped"; reason: string }
  | { kind: "checked"; runId: string; checked: number; mismatches: number; missing: number; done: boolean };

/**
 * One bounded batch of a fixity run. Objects are read outside any transaction; what they showed is
 * then committed in one transaction with the run's new cursor and the job for the next batch. A job
 * that crashed before the commit redoes its batch; a duplicate of a committed batch finds the cursor
 * moved and does nothing, so nothing is counted twice.
 */
export async function runFixityBatch(deps: FixityDeps, payload: FixityPayload, signal?: AbortSignal): Promise<BatchOutcome> {
  const { db, store, log } = deps;
  let run: repo.FixityRunRow;
  if (payload.runId) {
    const found = await repo.findRun(db, payload.runId);
    if (!found) return { kind: "skipped", reason: `no fixity run ${payload.runId}` };
    if (found.finished_at) return { kind: "skipped", reason: `fixity run ${found.id} already finished` };
    if ((found.cursor ?? null) !== payload.after) return { kind: "skipped", reason: `fixity run ${found.id} has moved past this batch` };
    run = found;
  } else {
    const active = await repo.latestUnfinishedRun(db);
    if (active && Date.now() - new Date(active.updated_at).getTime() < STALE_RUN_MS) {
      log.info("fixity run still in progress; not starting another", { runId: active.id });
      return { kind: "skipped", reason: `fixity run ${active.id} is still in progress` };
    }
    run = await db.transaction().execute(async (trx) => {
      const superseded = await repo.supersedeUnfinishedRuns(trx);
      if (Number(superseded[0]?.numUpdatedRows ?? 0) > 0) log.warn("fixity: a stalled run was superseded by a new one");
      return repo.insertRun(trx, { trigger: payload.trigger, cursor: payload.after });
    });
    log.info("fixity run started", { runId: run.id, trigger: payload.trigger, after: payload.after });
  }

  const rows = await repo.objectsAfter(db, run.cursor, payload.limit);
  const byKey = new Map<string, repo.RecordedObject[]>();
  for (const r of rows) byKey.set(r.object_key, [...(byKey.get(r.object_key) ?? []), r]);
  const keys = [...byKey.keys()];
  const reads = await mapLimit(keys, READ_PARALLEL, async (key) => ({ key, got: await hashObject(store, key, signal) }));

  const findings: repo.Finding[] = [];
  const okKeys: string[] = [];
  let bytes = 0;
  for (const { key, got } of reads) {
    bytes += got?.size ?? 0;
    let ok = true;
    for (const r of byKey.get(key)!) {
      if (got && got.sha256 === r.sha256) continue;
      ok = false;
      findings.push({
        object_key: key,
        expected_sha256: r.sha256,
        actual_sha256: got?.sha256 ?? null,
        reason: got ? "mismatch" : "missing",
        source: r.source,
        stream_id: r.stream_id,
      });
    }
    if (ok) okKeys.push(key);
  }
  const missing = new Set(findings.filter((f) => f.reason === "missing").map((f) => f.object_key)).size;
  const mismatches = new Set(findings.filter((f) => f.reason === "mismatch").map((f) => f.object_key)).size;
  const done = keys.length < payload.limit;
  const cursor = keys.at(-1) ?? run.cursor;

  const committed = await db.transaction().execute(async (trx) => {
    const locked = await repo.lockRun(trx, run.id);
    if (!locked || locked.finished_at || (locked.cursor ?? null) !== (run.cursor ?? null)) return false;
    await repo.recordFindings(trx, run.id, findings);
    await repo.resolveFindings(trx, okKeys);
    await repo.advanceRun(trx, run.id, { checked: keys.length, mismatches, missing, bytes, cursor, done });
    if (!done) {
      await enqueue(
        trx,
        "fixity_check",
        { run_id: run.id, after: cursor, limit: payload.limit },
        { queueName: FIXITY_QUEUE, jobKey: `fixity_check:run:${run.id}` },
      );
    }
    return true;
  });
  if (!committed) return { kind: "skipped", reason: `fixity run ${run.id} was advanced by another job` };
  for (const f of findings.slice(0, 20))
    log.error("fixity failure", { runId: run.id, key: f.object_key, reason: f.reason, source: f.source, expected: f.expected_sha256, actual: f.actual_sha256 });
  if (findings.length > 20) log.error("fixity failures (more)", { runId: run.id, mismatches, missing });
  if (done) log.info("fixity run finished", { runId: run.id });
  return { kind: "checked", runId: run.id, checked: keys.length, mismatches, missing, done };
}

/** On demand: queue a new run (a pending request is replaced, not doubled). Returns the job id. */
export async function requestFixityRun(db: Kysely<DB>, opts: { limit?: number; after?: string } = {}): Promise<{ jobId: string }> {
  const { id } = await enqueue(
    db,
    "fixity_check",
    { trigger: "manual", ...(opts.limit !== undefined ? { limit: opts.limit } : {}), ...(opts.after !== undefined ? { after: opts.after } : {}) },
    { queueName: FIXITY_QUEUE, jobKey: "fixity_check:manual" },
  );
  return { jobId: id };
}

export interface FixityFailureView {
  id: string;
  object_key: string;
  source: repo.ObjectSource | null;
  stream_id: string | null;
  reason: "mismatch" | "missing";
  expected_sha256: string;
  actual_sha256: string | null;
  detected_at: string;
  last_detected_at: string;
  detections: number;
  resolved_at: string | null;
  run_id: string | null;
}

/** Damaged or missing objects, newest first; open ones only unless `all`. */
export async function listFixityFailures(
  db: Kysely<DB>,
  opts: { all?: boolean; limit?: number; before?: string } = {},
): Promise<{ failures: FixityFailureView[]; next_before: string | null }> {
  const limit = opts.limit ?? 50;
  const rows = await repo.listFailures(db, { open: !opts.all, limit, before: opts.before });
  const iso = (d: Date | string) => new Date(d).toISOString();
  const failures = rows.map((r) => ({
    id: String(r.id),
    object_key: r.object_key,
    source: r.source as repo.ObjectSource | null,
    stream_id: r.stream_id,
    reason: r.reason as "mismatch" | "missing",
    expected_sha256: r.expected_sha256,
    actual_sha256: r.actual_sha256,
    detected_at: iso(r.detected_at),
    last_detected_at: iso(r.last_detected_at),
    detections: r.detections,
    resolved_at: r.resolved_at ? iso(r.resolved_at) : null,
    run_id: r.run_id === null ? null : String(r.run_id),
  }));
  return { failures, next_before: rows.length === limit ? failures.at(-1)!.id : null };
}
