import { AsyncLocalStorage } from "node:async_hooks";
import type { Role } from "./auth/role.ts";

/** Who is calling, as far as the request edge and the auth guard know. */
export interface Actor {
  userId: string;
  email: string;
  role: Role;
  tokenId: string;
  tokenKind: "api" | "session";
}

/** The rate-limit bucket this request was counted in, for the RateLimit headers. */
export interface RateLimitState {
  policy: string;
  limit: number;
  windowSeconds: number;
  remaining: number;
  resetSeconds: number;
}

/**
 * Per-request facts every layer may need without threading them through arguments: the audit
 * trail records "from where" and "who", the rate limiter reports its bucket to the edge, the auth
 * guard records the caller. Settings are not here: whoever needs them is given them. Opened by
 * wrapHandler (core/http/server.ts) for each request; outside core/http so services (audit) read
 * it without importing HTTP code.
 */
export interface RequestInfo {
  readonly requestId: string;
  /** The client's address (X-Forwarded-For only from --trusted-proxies). */
  readonly ip: string;
  readonly userAgent: string;
  actor?: Actor;
  rateLimit?: RateLimitState;
}

const als = new AsyncLocalStorage<RequestInfo>();

export function runWithRequest<T>(info: RequestInfo, fn: () => T): T {
  return als.run(info, fn);
}

/** Undefined outside a request (workers, CLI). */
export function currentRequest(): RequestInfo | undefined {
  return als.getStore();
}
