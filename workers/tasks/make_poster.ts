import type { JobHelpers } from "graphile-worker";
import { refreshPoster } from "../../core/streams/recording.service.ts";
import type { MediaDeps } from "../../core/streams/segmenting.service.ts";
import { streamIdOf } from "./stream-payload.ts";

/** Task id: make_poster (live). Payload { streamId }; keyed per stream so bursts collapse. */
export async function run(deps: MediaDeps, payload: unknown, helpers: JobHelpers): Promise<void> {
  await refreshPoster(deps, streamIdOf(payload, "make_poster"), helpers.abortSignal);
}
