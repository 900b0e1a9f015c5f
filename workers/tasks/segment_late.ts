import type { JobHelpers } from "graphile-worker";
import { segmentChunk, type MediaDeps } from "../../core/streams/segmenting.service.ts";
import { seqOf, streamIdOf } from "./stream-payload.ts";

/**
 * Task id: segment_late (batch). A chunk behind the live edge (skipped when the live playlist
 * jumped ahead, or arrived after its successors): segmented for the recording and the final
 * playlist, after live work. Payload { streamId, seq }; queue `stream:<id>:late`.
 */
export async function run(deps: MediaDeps, payload: unknown, helpers: JobHelpers): Promise<void> {
  const streamId = streamIdOf(payload, "segment_late");
  const seq = seqOf(payload, "segment_late");
  await segmentChunk(deps, streamId, seq, { signal: helpers.abortSignal, lastAttempt: helpers.job.attempts >= helpers.job.max_attempts, lane: "late" });
}
