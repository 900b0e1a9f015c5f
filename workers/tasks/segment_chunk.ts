import type { JobHelpers } from "graphile-worker";
import { segmentChunk, type MediaDeps } from "../../core/streams/segmenting.service.ts";
import { seqOf, streamIdOf } from "./stream-payload.ts";

/** Task id: segment_chunk (live). Payload { streamId, seq }; queued per stream so seqs run in order. */
export async function run(deps: MediaDeps, payload: unknown, helpers: JobHelpers): Promise<void> {
  const streamId = streamIdOf(payload, "segment_chunk");
  const seq = seqOf(payload, "segment_chunk");
  await segmentChunk(deps, streamId, seq, { signal: helpers.abortSignal, lastAttempt: helpers.job.attempts >= helpers.job.max_attempts });
}
