import { AppError } from "../errors.ts";

/** The codes a media failure can carry: the input's fault, ffmpeg's absence or slowness, or ours. */
export type MediaErrorCode = "unprocessable" | "unavailable" | "internal";

export interface MediaErrorOptions {
  /** Last bytes ffmpeg/ffprobe wrote to stderr; kept apart from `reason` so logs can show either. */
  stderrTail?: string;
  cause?: unknown;
}

/**
 * A media step failed. `unprocessable`: the input is bad and retrying cannot help (the job marks
 * the chunk failed). `unavailable`: the tool timed out, was killed or is missing; a retry may
 * succeed. The first line of `message` is the one-line `reason`; the stderr tail follows it, so
 * a caller that stores `message` keeps the evidence and one that shows `reason` stays short.
 */
export class MediaError extends AppError {
  declare readonly code: MediaErrorCode;
  readonly reason: string;
  readonly stderrTail: string;

  constructor(code: MediaErrorCode, reason: string, opts: MediaErrorOptions = {}) {
    const tail = opts.stderrTail?.trim() ?? "";
    super(code, tail ? `${reason}\n${tail}` : reason, { cause: opts.cause });
    this.name = "MediaError";
    this.reason = reason;
    this.stderrTail = tail;
  }
}

export function isMediaError(e: unknown): e is MediaError {
  return e instanceof MediaError;
}
