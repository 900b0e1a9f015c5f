/**
 * Every task id and its job class. `live` jobs keep a stream watchable now (segments, posters, the
 * queue probe); `batch` jobs may wait (recordings, fixity, exports). A worker started with
 * `--jobs live` or `--jobs batch` only runs that class, and `enqueue` gives batch jobs a larger
 * graphile-worker priority number, so ready live jobs are always taken first.
 *
 * Data only, no imports: it belongs to the queue (enqueue.ts sets priorities from it); the worker
 * (workers/tasks/index.ts) picks the tasks of its class from it.
 */
export type JobClass = "live" | "batch";

export const TASK_CLASS = {
  segment_chunk: "live",
  segment_late: "batch",
  make_poster: "live",
  make_part_poster: "batch",
  queue_probe: "live",
  assemble_recording: "batch",
  fixity_check: "batch",
  retention_sweep: "batch",
  purge_objects: "batch",
  object_hold: "batch",
  finish_idle_streams: "batch",
  build_export: "batch",
  audit_head: "batch",
} as const satisfies Record<string, JobClass>;

export type TaskId = keyof typeof TASK_CLASS;

export function isTaskId(v: string): v is TaskId {
  return Object.hasOwn(TASK_CLASS, v);
}
