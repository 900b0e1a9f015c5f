import type { Kysely } from "kysely";
import type { DB } from "../db/schema.ts";
import type { ObjectStore } from "../storage/store.ts";
import { hashObject } from "./fixity.service.ts";
import { countAuditedKinds, objectsAfter, unauditedObjects, type ObjectSource } from "./fixity.repository.ts";

/**
 * A one-shot, read-only check of everything rter stored (`rter verify storage`, the restore
 * drill): every object the database records (chunks, CMAF inits, segments, recordings) is read
 * and its SHA-256 compared with the database's, and every chunk and init the database holds must
 * carry the hash the audit chain recorded when it was stored. Unlike the fixity job it records
 * nothing, so it can run against a database that was just restored, before rter starts.
 */
export interface StorageProblem {
  kind: "missing" | "mismatch" | "not_in_audit";
  object_key: string;
  source: ObjectSource;
  stream_id: string;
  expected_sha256: string;
  actual_sha256: string | null;
}

export interface StorageReport {
  objects: number;
  bytes: number;
  /** Chunks and inits whose hash the audit chain vouches for. */
  audited: number;
  problems: StorageProblem[];
}

const BATCH = 500;
const READ_PARALLEL = 4;

export async function verifyStorage(db: Kysely<DB>, store: ObjectStore, opts: { onProgress?: (objects: number) => void } = {}): Promise<StorageReport> {
  const report: StorageReport = { objects: 0, bytes: 0, audited: 0, problems: [] };
  let after: string | null = null;
  for (;;) {
    const rows = await objectsAfter(db, after, BATCH);
    const byKey = new Map<string, typeof rows>();
    for (const r of rows) byKey.set(r.object_key, [...(byKey.get(r.object_key) ?? []), r]);
    const keys = [...byKey.keys()];
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(READ_PARALLEL, keys.length) }, async () => {
        while (next < keys.length) {
          const key = keys[next++]!;
          const got = await hashObject(store, key);
          report.bytes += got?.size ?? 0;
          for (const r of byKey.get(key)!) {
            if (got && got.sha256 === r.sha256) continue;
            report.problems.push({
              kind: got ? "mismatch" : "missing",
              object_key: key,
              source: r.source,
              stream_id: r.stream_id,
              expected_sha256: r.sha256,
              actual_sha256: got?.sha256 ?? null,
            });
          }
        }
      }),
    );
    report.objects += keys.length;
    opts.onProgress?.(report.objects);
    if (keys.length < BATCH) break;
    after = keys.at(-1)!;
  }

  // The database against the audit chain: a chunk or init whose recorded hash no `*.stored` entry
  // of its stream carries was changed (or added) outside rter. The chain itself is checked by
  // `rter audit verify`.
  const unaudited = await unauditedObjects(db);
  for (const u of unaudited)
    report.problems.push({
      kind: "not_in_audit",
      object_key: u.object_key,
      source: u.source,
      stream_id: u.stream_id,
      expected_sha256: u.sha256,
      actual_sha256: null,
    });
  report.audited = (await countAuditedKinds(db)) - unaudited.length;
  report.problems.sort((a, b) => (a.object_key < b.object_key ? -1 : a.object_key > b.object_key ? 1 : 0));
  return report;
}
