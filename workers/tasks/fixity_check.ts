import { parseFixityPayload, runFixityBatch, type FixityDeps } from "../../core/fixity/fixity.service.ts";

/**
 * Task id: fixity_check (batch). Payload `{ run_id?, after?, limit? }`: re-reads up to `limit`
 * stored objects (chunks, segments, recordings) after the key `after`, compares their SHA-256 with
 * what ingest recorded, records each mismatch or missing object, and queues the next batch of the
 * same run. Started hourly by the worker's crontab (`--fixity-schedule`) or on demand
 * (POST /api/v1/admin/fixity).
 */
export async function run(deps: FixityDeps, payload: unknown, signal?: AbortSignal): Promise<void> {
  const outcome = await runFixityBatch(deps, parseFixityPayload(payload), signal);
  if (outcome.kind === "skipped") deps.log.info("fixity batch skipped", { reason: outcome.reason });
}
