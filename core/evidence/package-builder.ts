import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Kysely } from "kysely";
import { audit } from "../audit/audit.service.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { publish } from "../events/events.service.ts";
import type { Logger } from "../log.ts";
import type { ObjectStore } from "../storage/store.ts";
import type { AuditLine } from "./audit-extract.ts";
import * as repo from "./exports.repository.ts";
import { AUDIT_EXTRACT, EXPORT_INFO, formatManifest, MANIFEST, PUBLIC_KEY, safePackagePath, SIGNATURE, type ManifestEntry } from "./manifest.ts";
import { loadSigningKey, signBytes } from "./signing-key.ts";
import { runTar, tarArgs } from "./tar.ts";

export interface ExportDeps {
  db: Kysely<DB>;
  store: ObjectStore;
  log: Logger;
  nodeId: string;
  version: string;
}

export interface Selection {
  stream_ids: string[];
  item_ids: string[];
}

/** Where a finished package lives in object storage. */
export const exportKey = (id: string) => `exports/${id}.tar`;
export const packageTop = (id: string) => `rter-evidence-${id}`;

const TAR_TIMEOUT_MS = 2 * 60 * 60_000;
const PROGRESS_EVERY_MS = 1_000;

const README = (id: string, fingerprint: string) => `rter evidence package ${id}

Every file of this package is listed in MANIFEST with its SHA-256 (sha256sum format).
MANIFEST.sig is an Ed25519 signature over the bytes of MANIFEST, made with the key of the
appliance that built it; ${PUBLIC_KEY} is that key (fingerprint ${fingerprint}). Compare it
with the key the appliance publishes (its admin page) before trusting it.

Check with standard tools, inside this directory:
  sha256sum --check --strict MANIFEST
  openssl pkeyutl -verify -pubin -inkey ${PUBLIC_KEY} -rawin -in MANIFEST -sigfile MANIFEST.sig
or with rter:  rter evidence verify <package.tar> [--key published-key.pem]

streams/<id>/chunks/  the chunks exactly as uploaded (init.mp4: a CMAF stream's init segment)
streams/<id>/recording.mp4, telemetry.geojson, guidance.json, stream.json
items/items.json (with tags and comments), items/photos/
audit/audit.ndjson    the audit entries about all of it, each with seq, prev_hash, hash and
                      the exact text hashed: SHA-256(prev_hash bytes || canonical) = hash
export.json           what was asked, when, by whom, and the audit chain head at build time
`;

function extOf(key: string): string {
  const m = /\.([a-z0-9]{1,8})$/i.exec(key);
  return m ? m[1]!.toLowerCase() : "bin";
}

/** Builds the package of one export row: stage every file, sign the manifest, tar into storage. */
export async function buildExport(deps: ExportDeps, exportId: string, signal?: AbortSignal): Promise<void> {
  const { db, store, log } = deps;
  const row = await repo.findExport(db, exportId);
  if (!row) {
    log.warn("export row gone, nothing to build", { exportId });
    return;
  }
  if (row.state === "ready") return;
  await repo.updateExport(db, exportId, { state: "building", progress: 0, error: null });
  await progressEvent(db, exportId, "building", 0);
  const sel = row.selection as unknown as Selection;
  const key = await loadSigningKey(db);
  const tmp = await mkdtemp(join(tmpdir(), "rter-export-"));
  const top = packageTop(exportId);
  const root = join(tmp, top);
  const manifest: ManifestEntry[] = [];
  try {
    const write = async (path: string, data: string | Uint8Array) => {
      if (!safePackagePath(path)) throw new AppError("internal", `unsafe package path ${path}`);
      const file = join(root, path);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, data);
      manifest.push({ path, sha256: createHash("sha256").update(data).digest("hex") });
    };
    // An object is copied byte for byte and must still be what was recorded on ingest: a package
    // never carries bytes that no longer match their hash (the fixity check names such objects).
    const copy = async (path: string, objectKey: string, expected: string | null) => {
      if (!safePackagePath(path)) throw new AppError("internal", `unsafe package path ${path}`);
      const file = join(root, path);
      await mkdir(dirname(file), { recursive: true });
      const hash = createHash("sha256");
      const sink = Bun.file(file).writer();
      const body = await store.get(objectKey).catch((e) => {
        // A recorded object that storage no longer has is a hole in the evidence, not a hiccup.
        throw e instanceof AppError && e.code === "not_found" ? new AppError("gone", `${objectKey} is missing from storage`) : e;
      });
      for await (const part of body) {
        hash.update(part);
        sink.write(part);
      }
      await sink.end();
      const sha = hash.digest("hex");
      if (expected && sha !== expected)
        throw new AppError("conflict", `${objectKey} no longer matches the SHA-256 recorded on ingest (${expected}); not exporting altered evidence`);
      manifest.push({ path, sha256: sha });
    };

    // The plan first, so progress can count files.
    const streams = [];
    for (const id of sel.stream_ids) {
      const s = await repo.streamForPackage(db, id);
      if (!s) throw new AppError("gone", `stream ${id} was deleted after the export was asked for`);
      streams.push({ s, chunks: await repo.chunksOf(db, id), init: await repo.initOf(db, id) });
    }
    const items = await repo.itemsForPackage(db, sel.item_ids);
    const total =
      streams.reduce((n, x) => n + x.chunks.length + (x.init ? 1 : 0) + (x.s.recording_key ? 1 : 0) + 3, 0) + items.filter((i) => i.photo_key).length + 6;
    let done = 0;
    let lastReport = Date.now();
    const step = async () => {
      done++;
      if (signal?.aborted) throw new AppError("unavailable", "export build interrupted");
      if (Date.now() - lastReport >= PROGRESS_EVERY_MS) {
        lastReport = Date.now();
        const progress = Math.min(0.95, (done / total) * 0.95);
        await repo.updateExport(db, exportId, { progress });
        await progressEvent(db, exportId, "building", progress);
      }
    };

    for (const { s, chunks, init } of streams) {
      const base = `streams/${s.id}`;
      if (init) {
        await copy(`${base}/init.${extOf(init.object_key)}`, init.object_key, init.sha256);
        await step();
      }
      const chunkFiles: Record<string, string> = {};
      for (const c of chunks) {
        const name = `${base}/chunks/${String(c.seq).padStart(6, "0")}.${extOf(c.object_key)}`;
        await copy(name, c.object_key, c.sha256);
        chunkFiles[c.seq] = name;
        await step();
      }
      if (s.recording_key) {
        await copy(`${base}/recording.mp4`, s.recording_key, s.recording_sha256);
        await step();
      }
      await write(
        `${base}/stream.json`,
        JSON.stringify(
          {
            id: s.id,
            title: s.title,
            owner: s.owner_email,
            state: s.state,
            media_format: s.media_format,
            created_at: s.created_at,
            finished_at: s.finished_at,
            finished_by: s.finished_by,
            tags: s.tags,
            recording: s.recording_key ? { file: `${base}/recording.mp4`, sha256: s.recording_sha256, size: s.recording_size, made_at: s.recording_at } : null,
            init: init
              ? {
                  file: `${base}/init.${extOf(init.object_key)}`,
                  sha256: init.sha256,
                  size: init.size,
                  received_at: init.received_at,
                  content_type: init.content_type,
                }
              : null,
            chunks: chunks.map((c) => ({
              seq: c.seq,
              file: chunkFiles[c.seq],
              sha256: c.sha256,
              size: c.size,
              content_type: c.content_type,
              received_at: c.received_at,
              capture_start: c.capture_start,
              state: c.state,
              late: c.late,
              failure_reason: c.failure_reason,
            })),
          },
          null,
          2,
        ),
      );
      await step();
      const telemetry = await repo.telemetryOf(db, s.id);
      await write(`${base}/telemetry.geojson`, JSON.stringify(telemetryGeoJson(s.id, telemetry), null, 1));
      await step();
      await write(`${base}/guidance.json`, JSON.stringify(await repo.guidanceOf(db, s.id), null, 2));
      await step();
    }

    const itemDocs = [];
    for (const i of items) {
      let photo: string | null = null;
      if (i.photo_key) {
        photo = `items/photos/${i.id}.${extOf(i.photo_key)}`;
        await copy(photo, i.photo_key, i.photo_sha256);
        await step();
      }
      itemDocs.push({
        id: i.id,
        kind: i.kind,
        stream_id: i.stream_id,
        title: i.title,
        body: i.body,
        url: i.url,
        author: i.author_email,
        lat: i.lat,
        lng: i.lng,
        heading: i.heading,
        position_at: i.position_at,
        created_at: i.created_at,
        photo: photo ? { file: photo, sha256: i.photo_sha256, type: i.photo_type } : null,
        tags: i.tags,
        comments: i.comments,
      });
    }
    await write("items/items.json", JSON.stringify(itemDocs, null, 2));
    await step();

    // The audit extract up to the chain head as it stands now.
    const head = await repo.auditHead(db);
    const targets = [...sel.stream_ids, ...sel.item_ids, exportId];
    const lines: string[] = [];
    let after = "0";
    let entries = 0;
    for (;;) {
      if (!head) break;
      const page = await repo.auditExtractPage(db, targets, after, head.seq, 1000);
      for (const r of page) {
        const line: AuditLine = {
          seq: r.seq,
          prev_hash: r.prev_hash,
          hash: r.hash,
          canonical: r.canonical,
          entry: {
            at: r.at,
            actor_id: r.actor_id,
            actor_email: r.actor_email,
            actor_role: r.actor_role,
            token_id: r.token_id,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            ip: r.ip,
            user_agent: r.user_agent,
            request_id: r.request_id,
            detail: r.detail,
          },
        };
        lines.push(JSON.stringify(line));
      }
      entries += page.length;
      if (page.length < 1000) break;
      after = page[page.length - 1]!.seq;
    }
    await write(AUDIT_EXTRACT, lines.map((l) => l + "\n").join(""));
    await step();

    const builtAt = new Date();
    await write(
      EXPORT_INFO,
      JSON.stringify(
        {
          id: exportId,
          requested_at: row.created_at,
          requested_by: row.requested_by,
          request: row.request,
          built_at: builtAt.toISOString(),
          built_by: { node: deps.nodeId, version: deps.version },
          streams: sel.stream_ids,
          items: sel.item_ids,
          audit_head: head,
          audit_entries: entries,
          signing_key: { algorithm: "ed25519", fingerprint: key.fingerprint, file: PUBLIC_KEY },
        },
        null,
        2,
      ),
    );
    await write(PUBLIC_KEY, key.publicPem);
    await write("README.txt", README(exportId, key.fingerprint));
    await step();
    const manifestText = new TextEncoder().encode(formatManifest(manifest));
    await writeFile(join(root, MANIFEST), manifestText);
    await writeFile(join(root, SIGNATURE), signBytes(key, manifestText));

    await repo.updateExport(db, exportId, { progress: 0.95 });
    await progressEvent(db, exportId, "building", 0.95);
    const tar = runTar(tarArgs(tmp, top, builtAt.getTime() / 1000), { timeoutMs: TAR_TIMEOUT_MS, signal });
    const objectKey = exportKey(exportId);
    const [put] = await Promise.all([store.put(objectKey, tar.stdout, { contentType: "application/x-tar" }), tar.done]);
    const manifestSha = createHash("sha256").update(manifestText).digest("hex");
    await db.transaction().execute(async (trx) => {
      await repo.updateExport(trx, exportId, {
        state: "ready",
        progress: 1,
        files: manifest.length,
        object_key: objectKey,
        size: put.size,
        sha256: put.sha256,
        manifest_sha256: manifestSha,
        audit_head_seq: head?.seq,
        finished_at: new Date(),
      });
      await audit(trx, {
        action: "export.built",
        targetType: "export",
        targetId: exportId,
        actor: null,
        detail: {
          sha256: put.sha256,
          size: put.size,
          files: manifest.length,
          manifest_sha256: manifestSha,
          audit_head: head,
          streams: sel.stream_ids.length,
          items: sel.item_ids.length,
        },
      });
      await progressEvent(trx, exportId, "ready", 1);
    });
    log.info("evidence package built", { exportId, files: manifest.length, bytes: put.size });
  } catch (e) {
    // Refusals (an altered object, a deleted stream) are final: no retry can make them right.
    const final = e instanceof AppError && (e.code === "conflict" || e.code === "gone");
    if (final) {
      await repo.updateExport(db, exportId, { state: "failed", error: e.message, finished_at: new Date() });
      await progressEvent(db, exportId, "failed", 0, e.message);
      await audit(db, { action: "export.failed", targetType: "export", targetId: exportId, actor: null, detail: { reason: e.message } });
      log.warn("evidence package refused", { exportId, reason: e.message });
      return;
    }
    await repo.updateExport(db, exportId, { state: "queued", error: String((e as Error).message ?? e).slice(0, 500) });
    throw e;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

function progressEvent(db: Parameters<typeof publish>[0], exportId: string, state: string, progress: number, error?: string) {
  return publish(db, {
    type: "export.progress",
    data: { export_id: exportId, state, progress: Math.round(progress * 1000) / 1000, ...(error ? { error } : {}) },
  });
}

type TelemetryRow = Awaited<ReturnType<typeof repo.telemetryOf>>[number];

/** RFC 7946: one Point per sample (coordinates lng, lat) with its time and heading, and the track as a LineString. */
export function telemetryGeoJson(streamId: string, rows: TelemetryRow[]) {
  const points = rows.map((r) => ({
    type: "Feature" as const,
    geometry: { type: "Point" as const, coordinates: [r.lng, r.lat] },
    properties: { t: new Date(r.t).toISOString(), accuracy: r.accuracy, heading: r.heading, speed: r.speed },
  }));
  const track =
    rows.length >= 2
      ? [
          {
            type: "Feature" as const,
            geometry: { type: "LineString" as const, coordinates: rows.map((r) => [r.lng, r.lat]) },
            properties: { stream_id: streamId, from: new Date(rows[0]!.t).toISOString(), to: new Date(rows[rows.length - 1]!.t).toISOString() },
          },
        ]
      : [];
  return { type: "FeatureCollection" as const, features: [...points, ...track] };
}
