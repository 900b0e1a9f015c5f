/**
 * Errors are values with a code. Services throw AppError; the HTTP layer maps the code to a
 * status and an RFC 9457 problem+json body. Nothing else in the codebase picks HTTP statuses.
 */
export type ErrorCode =
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "request_timeout"
  | "conflict"
  | "gone"
  | "too_large"
  | "unsupported_media_type"
  | "unprocessable"
  | "headers_too_large"
  | "rate_limited"
  | "unavailable"
  | "internal";

export const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  conflict: 409,
  gone: 410,
  too_large: 413,
  unsupported_media_type: 415,
  unprocessable: 422,
  headers_too_large: 431,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

export const TITLE: Record<ErrorCode, string> = {
  bad_request: "Bad request",
  unauthorized: "Unauthorized",
  forbidden: "Forbidden",
  not_found: "Not found",
  method_not_allowed: "Method not allowed",
  request_timeout: "Request timeout",
  conflict: "Conflict",
  gone: "Gone",
  too_large: "Content too large",
  unsupported_media_type: "Unsupported media type",
  unprocessable: "Unprocessable content",
  headers_too_large: "Request header fields too large",
  rate_limited: "Too many requests",
  unavailable: "Service unavailable",
  internal: "Internal server error",
};

export interface AppErrorOptions {
  /** Sent as Retry-After on 429/503 so clients back off instead of hammering. */
  retryAfterSeconds?: number;
  cause?: unknown;
  /** Extra members of the problem document (e.g. which field failed). */
  detail?: Record<string, unknown>;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryAfterSeconds?: number;
  readonly detail?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, opts: AppErrorOptions = {}) {
    super(message, { cause: opts.cause });
    this.name = "AppError";
    this.code = code;
    this.status = STATUS[code];
    this.retryAfterSeconds = opts.retryAfterSeconds ?? (code === "unavailable" ? 5 : undefined);
    this.detail = opts.detail;
  }
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}

/** Network-level failures that mean "the dependency is down", not "the request is wrong". */
const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "ConnectionRefused",
  "ConnectionClosed",
]);

export function isTransientNetworkError(e: unknown): boolean {
  const err = e as { code?: string; message?: string } | undefined;
  if (!err) return false;
  if (err.code && TRANSIENT_CODES.has(err.code)) return true;
  const m = String(err.message ?? "");
  return /timeout|terminated unexpectedly|Connection terminated|socket hang up|connect ECONNREFUSED|the database system is (starting|shutting) up/i.test(m);
}
