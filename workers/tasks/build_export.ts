import { AppError } from "../../core/errors.ts";
import { isUuid } from "../../core/ids.ts";
import { buildExport, type ExportDeps } from "../../core/evidence/package-builder.ts";

/**
 * Task id: build_export (batch, queue "exports": one package at a time). Payload { exportId }.
 * Stages every file, signs the manifest and writes the tar under exports/<id>.tar; a retried job
 * starts over and overwrites the same key, so a crash mid-way leaves nothing half-made behind.
 */
export async function run(deps: ExportDeps, payload: unknown, signal?: AbortSignal): Promise<void> {
  const id = (payload as { exportId?: unknown } | null)?.exportId;
  if (typeof id !== "string" || !isUuid(id)) throw new AppError("bad_request", "build_export payload needs an exportId");
  await buildExport(deps, id, signal);
}
