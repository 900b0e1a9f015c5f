import type { TaskList } from "graphile-worker";
import type { Runtime } from "../../core/runtime.ts";
import * as queueProbe from "./queue_probe.ts";
import * as segmentChunk from "./segment_chunk.ts";
import * as makePoster from "./make_poster.ts";
import * as assembleRecording from "./assemble_recording.ts";
import type { MediaDeps } from "../../core/streams/segmenting.service.ts";

/**
 * The explicit task list: a compiled binary has no task directory to scan. Each task validates
 * its payload and hands the work to a core service.
 */
export function makeTaskList(rt: Runtime): TaskList {
  const db = rt.database!.db;
  const media: MediaDeps = {
    db,
    store: rt.store!,
    log: rt.log,
    ffmpeg: rt.ffmpegPath!,
    ffprobe: rt.ffprobePath!,
    ffmpegTimeoutMs: rt.config.media.ffmpegTimeoutMs,
    gapWaitMs: rt.config.ingest.gapWaitMs,
  };
  return {
    segment_chunk: (payload, helpers) => segmentChunk.run(media, payload, helpers),
    make_poster: (payload, helpers) => makePoster.run(media, payload, helpers),
    assemble_recording: (payload, helpers) => assembleRecording.run(media, payload, helpers),
    queue_probe: (payload, helpers) => queueProbe.run({ db, nodeId: rt.nodeId }, payload, helpers.abortSignal),
  };
}
