import type { JobHelpers } from "graphile-worker";
import { refreshPartPoster } from "../../core/streams/recording.service.ts";
import type { MediaDeps } from "../../core/streams/segmenting.service.ts";
import { streamIdOf } from "./stream-payload.ts";

/** Task id: make_part_poster (batch). Payload { streamId }: a CMAF stream's poster from its newest key frame. */
export async function run(deps: MediaDeps, payload: unknown, helpers: JobHelpers): Promise<void> {
  await refreshPartPoster(deps, streamIdOf(payload, "make_part_poster"), helpers.abortSignal);
}
