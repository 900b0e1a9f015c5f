import type { Task, TaskList } from "graphile-worker";
import type { WorkerContext } from "../../core/runtime.ts";
import * as queueProbe from "./queue_probe.ts";
import * as segmentChunk from "./segment_chunk.ts";
import * as segmentLate from "./segment_late.ts";
import * as makePoster from "./make_poster.ts";
import * as makePartPoster from "./make_part_poster.ts";
import * as assembleRecording from "./assemble_recording.ts";
import type { MediaDeps } from "../../core/streams/segmenting.service.ts";
import * as fixityCheck from "./fixity_check.ts";
import * as retentionSweep from "./retention_sweep.ts";
import * as purgeObjects from "./purge_objects.ts";
import * as objectHold from "./object_hold.ts";
import * as finishIdle from "./finish_idle_streams.ts";
import * as buildExport from "./build_export.ts";
import * as auditHead from "./audit_head.ts";
import { TASK_CLASS, type TaskId } from "../../core/queue/task-classes.ts";

/**
 * The explicit task list: a compiled binary has no task directory to scan. Each task validates
 * its payload and hands the work to a core service. Only the tasks of the worker's job class
 * (`--jobs`) are listed: graphile-worker never takes a job whose task it does not have.
 */
export function makeTaskList(rt: WorkerContext): TaskList {
  const db = rt.database.db;
  const media: MediaDeps = {
    db,
    store: rt.store,
    log: rt.log,
    ffmpeg: rt.ffmpegPath,
    ffmpegTimeoutMs: rt.config.media.ffmpegTimeoutMs,
    gapWaitMs: rt.config.ingest.gapWaitMs,
  };
  // A new task needs its class in core/queue/task-classes.ts first (TypeScript refuses an unknown key here).
  const tasks: Record<TaskId, Task> = {
    segment_chunk: (payload, helpers) => segmentChunk.run(media, payload, helpers),
    segment_late: (payload, helpers) => segmentLate.run(media, payload, helpers),
    make_poster: (payload, helpers) => makePoster.run(media, payload, helpers),
    make_part_poster: (payload, helpers) => makePartPoster.run(media, payload, helpers),
    assemble_recording: (payload, helpers) => assembleRecording.run(media, payload, helpers),
    queue_probe: (payload, helpers) => queueProbe.run({ db, nodeId: rt.nodeId }, payload, helpers.abortSignal),
    fixity_check: (payload, helpers) => fixityCheck.run({ db, store: rt.store, log: rt.log }, payload, helpers.abortSignal),
    retention_sweep: (payload, helpers) => retentionSweep.run({ db, store: rt.store, log: rt.log }, rt.config.retention.defaultMs, payload, helpers),
    purge_objects: (payload) => purgeObjects.run({ db, store: rt.store, log: rt.log }, payload),
    object_hold: (payload) => objectHold.run({ db, store: rt.store, log: rt.log }, payload),
    finish_idle_streams: () => finishIdle.run({ db, log: rt.log }, rt.config.ingest.idleFinishMs),
    build_export: (payload, helpers) =>
      buildExport.run({ db, store: rt.store, log: rt.log, nodeId: rt.nodeId, version: rt.version }, payload, helpers.abortSignal),
    audit_head: () => auditHead.run({ db, log: rt.log }, rt.config.audit.headFile),
  };
  const jobs = rt.config.worker.jobs;
  return Object.fromEntries(Object.entries(tasks).filter(([id]) => jobs === "all" || TASK_CLASS[id as TaskId] === jobs));
}
