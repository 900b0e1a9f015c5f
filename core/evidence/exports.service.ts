import type { Kysely } from "kysely";
import { audit } from "../audit/audit.service.ts";
import type { AuthUser } from "../auth/auth.service.ts";
import { requireStaff } from "../auth/guards.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { publish } from "../events/events.service.ts";
import { isUuid } from "../ids.ts";
import { findTag } from "../items/items.repository.ts";
import { enqueue } from "../queue/enqueue.ts";
import type { ObjectStore } from "../storage/store.ts";
import { serveObject } from "../streams/serve-object.ts";
import * as repo from "./exports.repository.ts";
import { MAX_EXPORT_ITEMS, MAX_EXPORT_STREAMS } from "./exports.model.ts";
import { packageTop, type Selection } from "./package-builder.ts";
import { loadSigningKey } from "./signing-key.ts";

export interface ExportRequest {
  streams?: string[];
  items?: string[];
  tag?: string;
  from?: string;
  to?: string;
}

function time(v: string | undefined, name: string): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new AppError("bad_request", `${name} must be an RFC 3339 time`);
  return d;
}

/**
 * What a request means: the streams and items listed, plus — when a tag or a window is given —
 * every stream and item of that tag (or of all) in that window (streams that overlap it, other
 * items created in it). A stream always brings its own item and is exported whole: its original
 * chunks are the evidence, and cutting them would be the first thing a defense questions.
 */
export async function resolveSelection(db: Kysely<DB>, req: ExportRequest): Promise<Selection> {
  const from = time(req.from, "from");
  const to = time(req.to, "to");
  if (from && to && from > to) throw new AppError("bad_request", "from is after to");
  const streamIds = [...new Set(req.streams ?? [])].map((s) => s.toLowerCase());
  const itemIds = [...new Set(req.items ?? [])].map((s) => s.toLowerCase());
  if (!streamIds.length && !itemIds.length && req.tag === undefined && !from && !to)
    throw new AppError("bad_request", "choose streams, items, a tag or a time window to export");
  const foundStreams = new Set((await repo.existingStreamIds(db, streamIds)).map((r) => r.id));
  const missingStream = streamIds.find((id) => !foundStreams.has(id));
  if (missingStream) throw new AppError("not_found", `no stream ${missingStream}`);
  const foundItems = await repo.existingItems(db, itemIds);
  const missingItem = itemIds.find((id) => !foundItems.some((i) => i.id === id));
  if (missingItem) throw new AppError("not_found", `no item ${missingItem}`);

  const streams = new Set(streamIds);
  const items = new Set(itemIds);
  for (const i of foundItems) if (i.stream_id) streams.add(i.stream_id);
  if (req.tag !== undefined || from || to) {
    let tagId: string | undefined;
    if (req.tag !== undefined) {
      const tag = await findTag(db, req.tag);
      if (!tag) throw new AppError("not_found", `no tag ${req.tag}`);
      tagId = tag.id;
    }
    const scoped = await repo.itemsInScope(db, { tagId, from, to, limit: MAX_EXPORT_ITEMS + 1 });
    for (const i of scoped) {
      items.add(i.id);
      if (i.stream_id) streams.add(i.stream_id);
    }
  }
  for (const r of await repo.itemIdsOfStreams(db, [...streams])) items.add(r.id);
  if (streams.size > MAX_EXPORT_STREAMS)
    throw new AppError("unprocessable", `the selection holds ${streams.size} streams, a package at most ${MAX_EXPORT_STREAMS}: narrow it`);
  if (items.size > MAX_EXPORT_ITEMS) throw new AppError("unprocessable", `the selection holds more than ${MAX_EXPORT_ITEMS} items: narrow it`);
  if (!streams.size && !items.size) throw new AppError("unprocessable", "nothing matches that selection");
  return { stream_ids: [...streams].sort(), item_ids: [...items].sort() };
}

/** Records the request, its audit entry and its batch job in one transaction. */
export async function requestExport(db: Kysely<DB>, user: AuthUser, req: ExportRequest) {
  requireStaff(user);
  const selection = await resolveSelection(db, req);
  const row = await db.transaction().execute(async (trx) => {
    const row = await repo.insertExport(trx, { requested_by: user.id, request: req, selection });
    await audit(trx, {
      action: "export.requested",
      targetType: "export",
      targetId: row.id,
      detail: { request: req, streams: selection.stream_ids, items: selection.item_ids },
    });
    // One package at a time per cluster (queue "exports"): it is batch work, never ahead of live.
    await enqueue(trx, "build_export", { exportId: row.id }, { queueName: "exports", jobKey: `build_export:${row.id}`, maxAttempts: 5 });
    await publish(trx, { type: "export.progress", data: { export_id: row.id, state: "queued", progress: 0 } });
    return row;
  });
  return exportView(row);
}

export function exportView(r: repo.ExportRow) {
  const sel = r.selection as unknown as Selection;
  return {
    id: r.id,
    state: r.state,
    progress: Number(r.progress),
    streams: sel.stream_ids.length,
    items: sel.item_ids.length,
    files: r.files,
    size: r.size === null ? null : Number(r.size),
    sha256: r.sha256,
    manifest_sha256: r.manifest_sha256,
    audit_head_seq: r.audit_head_seq === null ? null : String(r.audit_head_seq),
    error: r.error,
    requested_by: r.requested_by,
    created_at: new Date(r.created_at).toISOString(),
    finished_at: r.finished_at ? new Date(r.finished_at).toISOString() : null,
    download_url: r.state === "ready" ? `/api/v1/exports/${r.id}/download` : null,
  };
}

export async function getExport(db: Kysely<DB>, user: AuthUser, id: string) {
  requireStaff(user);
  const row = isUuid(id) ? await repo.findExport(db, id) : undefined;
  if (!row) throw new AppError("not_found", "no such export");
  return row;
}

export async function listExports(db: Kysely<DB>, user: AuthUser, limit: number) {
  requireStaff(user);
  const rows = await repo.latestExports(db, limit);
  return rows.map(exportView);
}

/** Every download is audited (a byte range only when it starts at 0: a player's follow-up reads are one download). */
export async function downloadExport(db: Kysely<DB>, store: ObjectStore, user: AuthUser, id: string, range: string | null): Promise<Response> {
  const row = await getExport(db, user, id);
  if (row.state !== "ready" || !row.object_key) throw new AppError("conflict", `the package is ${row.state}, not ready`);
  if (!range || /^bytes=0-/.test(range.trim()))
    await audit(db, {
      action: "export.downloaded",
      targetType: "export",
      targetId: row.id,
      detail: { sha256: row.sha256, size: row.size === null ? null : Number(row.size), range },
    });
  return serveObject(store, row.object_key, {
    contentType: "application/x-tar",
    sha256: row.sha256 ?? undefined,
    immutable: true,
    range,
    filename: `${packageTop(row.id)}.tar`,
  });
}

export async function signingKeyView(db: Kysely<DB>, user: AuthUser) {
  requireStaff(user);
  const k = await loadSigningKey(db);
  return { algorithm: "ed25519" as const, fingerprint: k.fingerprint, public_key_pem: k.publicPem, created_at: k.createdAt.toISOString() };
}
