import type { JobHelpers } from "graphile-worker";
import { assembleStreamRecording } from "../../core/streams/recording.service.ts";
import type { MediaDeps } from "../../core/streams/segmenting.service.ts";
import { streamIdOf } from "./stream-payload.ts";
import { addRecordingJob } from "../../core/streams/streams.repository.ts";

/** Task id: assemble_recording (batch). Payload { streamId }; waits for the last segment by re-queuing itself. */
export async function run(deps: MediaDeps, payload: unknown, helpers: JobHelpers): Promise<void> {
  const streamId = streamIdOf(payload, "assemble_recording");
  await assembleStreamRecording(deps, streamId, (at) => addRecordingJob(deps.db, streamId, at).then(() => {}), helpers.abortSignal);
}
