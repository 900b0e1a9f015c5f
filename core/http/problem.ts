import { AppError, TITLE, isAppError, isTransientNetworkError } from "../errors.ts";

/** RFC 9457 problem document. Never carries a stack trace. */
export function problemResponse(err: AppError, instance?: string, headers: Record<string, string> = {}): Response {
  const body: Record<string, unknown> = {
    type: `https://rter.dev/problems/${err.code.replace(/_/g, "-")}`,
    title: TITLE[err.code],
    status: err.status,
    detail: err.message,
    code: err.code,
    ...err.detail,
  };
  if (instance) body.instance = instance;
  const h: Record<string, string> = { "content-type": "application/problem+json", ...headers };
  if (err.retryAfterSeconds !== undefined) h["retry-after"] = String(err.retryAfterSeconds);
  return new Response(JSON.stringify(body), { status: err.status, headers: h });
}

/** Turns anything thrown into an AppError: bad input stays 4xx, a dead dependency is 503, the rest 500. */
export function toAppError(e: unknown): AppError {
  if (isAppError(e)) return e;
  const err = e as { code?: string; message?: string };
  // pg raises these when the server is gone, restarting, or the pool cannot hand out a connection.
  if (
    isTransientNetworkError(e) ||
    (err?.code && /^(08|57P0[1-3]|53)/.test(err.code)) ||
    /timeout exceeded when trying to connect|Connection terminated/i.test(err?.message ?? "")
  ) {
    return new AppError("unavailable", "a dependency is unavailable, retry shortly", { cause: e, retryAfterSeconds: 5 });
  }
  if (err?.code === "57014") return new AppError("unavailable", "the database took too long to answer", { cause: e, retryAfterSeconds: 2 });
  // Raised by our own triggers (migration 0006): a legal hold, and the append-only audit trail.
  if (err?.code === "RTH01") return new AppError("conflict", "it is under legal hold and cannot be deleted", { cause: e });
  if (err?.code === "RTA01") return new AppError("forbidden", "the audit trail is append-only", { cause: e });
  // Class 22 is "data exception": a value Postgres refuses (NUL in text, out of range), i.e. bad input.
  if (typeof err?.code === "string" && err.code.startsWith("22"))
    return new AppError("bad_request", "a value was not accepted (e.g. a NUL character or a number out of range)", { cause: e });
  return new AppError("internal", "internal error", { cause: e });
}
