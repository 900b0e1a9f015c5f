import type { TaskList } from "graphile-worker";
import type { Runtime } from "../../core/runtime.ts";
import * as queueProbe from "./queue_probe.ts";

/**
 * The explicit task list: a compiled binary has no task directory to scan. Each task validates
 * its payload and hands the work to a core service.
 */
export function makeTaskList(rt: Runtime): TaskList {
  const db = rt.database!.db;
  return {
    queue_probe: (payload, helpers) => queueProbe.run({ db, nodeId: rt.nodeId }, payload, helpers.abortSignal),
  };
}
