import { AppError, isAppError } from "../errors.ts";
import { guardedBody, type UploadPace } from "./body.ts";
import { JsonScanner, type JsonLimits } from "./json-scan.ts";

/** Routes whose body is raw media, not JSON (chunks and the CMAF init of the live video feature, photos). */
export const RAW_BODY_ROUTES: RegExp[] = [
  /^\/api\/v1\/streams\/[^/]+\/chunks\//,
  /^\/api\/v1\/streams\/[^/]+\/init$/,
  /^\/api\/v1\/streams\/[^/]+\/poster$/,
  /^\/api\/v1\/items\/photos$/,
];

/**
 * Every JSON body of the API fits these: the largest real one is an item (10,000-character text,
 * 200-character title, 2,000-character URL, 32 tags), a few KiB, a few more escaped. Nothing we
 * accept nests deeper than 4.
 */
export const DEFAULT_JSON_LIMITS: JsonLimits = { maxBytes: 64 * 1024, maxDepth: 32, maxKeys: 64, maxItems: 1000, maxStringChars: 16 * 1024, maxKeyChars: 128 };

/** Routes whose bodies are legitimately bigger (their schemas allow up to 1000 or 5000 elements). */
const LARGER: { method: string; path: RegExp; limits: Partial<JsonLimits> }[] = [
  // 1000 telemetry samples of six numbers each.
  { method: "POST", path: /^\/api\/v1\/streams\/[^/]+\/telemetry$/, limits: { maxBytes: 512 * 1024 } },
  // A workspace order of up to 5000 item ids.
  { method: "PUT", path: /^\/api\/v1\/tags\/[^/]+\/order$/, limits: { maxBytes: 512 * 1024, maxItems: 5000 } },
  // An item's text may be 10,000 characters, each up to six bytes as a \u escape.
  { method: "POST", path: /^\/api\/v1\/items$/, limits: { maxBytes: 128 * 1024 } },
];

const BODY_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The limits of a request's JSON body, or null when the route takes no JSON (raw media, pages, GET). */
export function jsonLimitsFor(method: string, path: string): JsonLimits | null {
  if (!BODY_METHODS.has(method) || !path.startsWith("/api/") || RAW_BODY_ROUTES.some((r) => r.test(path))) return null;
  const larger = LARGER.find((r) => r.method === method && r.path.test(path));
  return larger ? { ...DEFAULT_JSON_LIMITS, ...larger.limits } : DEFAULT_JSON_LIMITS;
}

function isJsonOrUnstated(contentType: string | null): boolean {
  return contentType === null || /^application\/(problem\+)?json\s*(;|$)/i.test(contentType);
}

/**
 * The one gate in front of every JSON route, before Elysia parses or validates anything: the body
 * is read (refused with 413 as soon as it passes the route's byte limit) and scanned as it
 * arrives (see JsonScanner); a refused body is answered at once as a precise 400. A body that
 * passes is handed on as bytes in a new Request. Other content types pass untouched (the app
 * answers them 415).
 */
export async function gateJsonBody(req: Request, path: string, pace?: UploadPace): Promise<Request | AppError> {
  const limits = jsonLimitsFor(req.method, path);
  if (!limits || !req.body || !isJsonOrUnstated(req.headers.get("content-type"))) return req;
  const len = req.headers.get("content-length");
  if (len !== null && Number(len) > limits.maxBytes) return new AppError("too_large", `a JSON body of this route may have at most ${limits.maxBytes} bytes`);
  const scanner = new JsonScanner(limits);
  // The same minimum pace as uploads: a body trickled in a byte at a time is cut with 408.
  const reader = guardedBody(req.body, pace)!.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      total += r.value.length;
      const refusal = scanner.push(r.value);
      if (total > limits.maxBytes) {
        await reader.cancel().catch(() => {});
        // A shape refused earlier is the more precise reason.
        return refusal
          ? new AppError(refusal.code, refusal.message)
          : new AppError("too_large", `a JSON body of this route may have at most ${limits.maxBytes} bytes`);
      }
      // Once refused, the rest (within the byte limit) is still read so the client gets its answer
      // on a connection in a clean state, but it is neither kept nor scanned.
      if (!refusal) parts.push(r.value);
    }
  } catch (e) {
    return isAppError(e) ? e : new AppError("bad_request", "the request was interrupted before its body was complete", { cause: e });
  }
  if (total === 0) return new Request(req.url, { method: req.method, headers: req.headers });
  const refusal = scanner.end();
  if (refusal) return new AppError(refusal.code, refusal.message);
  return new Request(req.url, { method: req.method, headers: req.headers, body: Buffer.concat(parts), signal: req.signal });
}
