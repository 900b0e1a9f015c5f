import { AppError } from "../../core/errors.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Payload checks shared by the stream tasks: a bad payload is a permanent failure, not a retry loop. */
export function streamIdOf(p: unknown, task: string): string {
  const id = (p as { streamId?: unknown } | null)?.streamId;
  if (typeof id !== "string" || !UUID.test(id)) throw new AppError("bad_request", `${task} payload needs a uuid streamId`);
  return id;
}

export function seqOf(p: unknown, task: string): number {
  const seq = (p as { seq?: unknown } | null)?.seq;
  if (typeof seq !== "number" || !Number.isInteger(seq) || seq < 0) throw new AppError("bad_request", `${task} payload needs an integer seq >= 0`);
  return seq;
}
