import type { Kysely } from "kysely";
import type { DB } from "../../core/db/schema.ts";
import type { Logger } from "../../core/log.ts";
import { finishIdleStreams } from "../../core/streams/idle.service.ts";

/**
 * Task id: finish_idle_streams (batch). Payload `{}`. Every minute from the worker's crontab
 * (when --stream-idle-finish is not off): live streams without a chunk for that long are
 * finished by the worker (their recording is queued); see core/streams/idle.service.ts.
 */
export async function run(deps: { db: Kysely<DB>; log: Logger }, idleMs: number | null): Promise<string[]> {
  if (idleMs === null) return [];
  const ids = await finishIdleStreams(deps.db, idleMs);
  if (ids.length) deps.log.info("finished silent streams", { streams: ids, idleMs });
  return ids;
}
