import type { OidcConfig } from "../../config/oidc.ts";
import { AppError } from "../../errors.ts";
import { claimValues } from "./claims.ts";
import { clip } from "./provider.ts";

/**
 * Group overage (OIDC Core §5.6.2 distributed claims, as Entra ID uses them): a user in more
 * groups than a token holds (200 in Entra's JWTs) gets no `groups` claim; the ID token names a
 * claim source instead (`_claim_names: {groups: "src1"}`, `_claim_sources: {src1: {endpoint}}`)
 * where the groups can be read with the access token. rter follows it (--oidc-group-overage
 * follow) bounded like every other call to the provider: --oidc-timeout, a size limit, https only
 * (http to a loopback address is for tests and a provider on the same host), no redirects.
 */

/** The answer may be at most this large (Graph's getMemberObjects: up to 11,000 ids of 36 characters ≈ 0.5 MB). */
export const OVERAGE_MAX_BYTES = 2 * 1024 * 1024;
/** Values read from the source, more than from a token (the point of overage is many groups). */
export const OVERAGE_MAX_VALUES = 20_000;

export type RoleValues =
  | { values: string[]; source: "token" | "endpoint" }
  /** The sign-in cannot be judged: why, in words for the person, and a short form for the audit. */
  | { refused: string; error: string };

/** The claim source the role claim was moved to, or null when the token carries the claim (or names no source for it). */
export function overageSource(claims: Record<string, unknown>, roleClaim: string): { endpoint: unknown; accessToken: string | null } | null {
  if (Object.hasOwn(claims, roleClaim)) return null;
  const names = claims._claim_names;
  if (!names || typeof names !== "object" || !Object.hasOwn(names, roleClaim)) return null;
  const src = (names as Record<string, unknown>)[roleClaim];
  const sources = claims._claim_sources;
  const source =
    typeof src === "string" && sources && typeof sources === "object" && Object.hasOwn(sources, src) ? (sources as Record<string, unknown>)[src] : undefined;
  const s = source && typeof source === "object" ? (source as Record<string, unknown>) : {};
  return { endpoint: s.endpoint, accessToken: typeof s.access_token === "string" ? s.access_token : null };
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost)$/i;

/**
 * Where and how the groups are read. Entra still writes Azure AD Graph's retired
 * `https://graph.windows.net/{tenant}/users/{id}/getMemberObjects` into tokens; Microsoft's
 * guidance is to ask Microsoft Graph's equivalent, which rter does. getMemberObjects is a POST
 * (transitive: nested groups included); any other endpoint is read with a GET.
 */
export function overageRequest(endpoint: unknown): { url: URL; method: "GET" | "POST" } | { refused: string } {
  if (typeof endpoint !== "string" || endpoint.length > 2048) return { refused: "the token's claim source has no usable endpoint" };
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return { refused: "the token's claim source endpoint is not a URL" };
  }
  if (url.username || url.password) return { refused: "the token's claim source endpoint carries credentials" };
  if (url.protocol !== "https:" && !(url.protocol === "http:" && LOOPBACK.test(url.hostname)))
    return { refused: `the token's claim source endpoint ${clip(url.origin, 100)} is not https` };
  const aad = /^\/([^/]+)\/users\/([^/]+)\/getMemberObjects$/.exec(url.pathname);
  if (url.hostname === "graph.windows.net" && aad) url = new URL(`https://graph.microsoft.com/v1.0/users/${aad[2]}/getMemberObjects`);
  return { url, method: url.pathname.endsWith("/getMemberObjects") ? "POST" : "GET" };
}

/** The body, read up to `max` bytes; null when it is longer. */
async function readCapped(res: Response, max: number): Promise<Uint8Array | null> {
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > max) {
    await res.body?.cancel();
    return null;
  }
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of res.body ?? []) {
    n += chunk.byteLength;
    if (n > max) {
      await res.body?.cancel().catch(() => {});
      return null;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function outage(endpoint: string, why: string): AppError {
  return new AppError(
    "unavailable",
    `the identity provider's groups endpoint (${clip(endpoint, 100)}) is not answering: ${clip(why)}; local accounts can still sign in`,
    {
      retryAfterSeconds: 30,
    },
  );
}

/**
 * The role claim's values: from the token, or, when the token names a claim source for them,
 * from that source's endpoint. A source that does not answer (network, timeout, 5xx) is an
 * AppError "unavailable" (503, access is not extended on stale knowledge); one that answers but
 * not with groups (401/403, too large, not JSON, no list) is a refusal the caller audits.
 */
export async function roleValues(cfg: OidcConfig, claims: Record<string, unknown>, accessToken: string | undefined): Promise<RoleValues> {
  const source = overageSource(claims, cfg.roleClaim);
  if (!source) return { values: claimValues(claims, cfg.roleClaim), source: "token" };
  if (cfg.groupOverage === "refuse") {
    return {
      refused: `your account is in more groups than the identity provider puts in a token (group overage), and rter is set not to fetch them (--oidc-group-overage refuse); ask an administrator to limit the token to rter's groups (Entra ID: "Groups assigned to the application") or to set --oidc-group-overage follow`,
      error: "overage not followed",
    };
  }
  const req = overageRequest(source.endpoint);
  if ("refused" in req) return { refused: `your groups could not be read: ${req.refused}`, error: req.refused };
  const token = source.accessToken ?? accessToken;
  if (!token) return { refused: "your groups could not be read: the identity provider gave no access token to read them with", error: "no access token" };
  let res: Response;
  try {
    res = await fetch(req.url, {
      method: req.method,
      headers: { authorization: `Bearer ${token}`, accept: "application/json", ...(req.method === "POST" ? { "content-type": "application/json" } : {}) },
      body: req.method === "POST" ? JSON.stringify({ securityEnabledOnly: false }) : undefined,
      redirect: "manual",
      signal: AbortSignal.timeout(cfg.timeoutMs),
    });
  } catch (e) {
    throw outage(req.url.origin, e instanceof Error ? e.message : String(e));
  }
  if (res.status >= 500) {
    await res.body?.cancel();
    throw outage(req.url.origin, `HTTP ${res.status}`);
  }
  let body: Uint8Array | null;
  try {
    body = await readCapped(res, OVERAGE_MAX_BYTES);
  } catch (e) {
    throw outage(req.url.origin, e instanceof Error ? e.message : String(e));
  }
  const where = `the groups endpoint ${clip(req.url.origin + req.url.pathname, 150)}`;
  if (res.status !== 200) {
    const said = body ? clip(new TextDecoder().decode(body.slice(0, 400)), 150) : "";
    const error = `HTTP ${res.status}${said ? ` ${said}` : ""}`;
    return { refused: `your groups could not be read: ${where} answered ${error}`, error };
  }
  if (!body) {
    return {
      refused: `your groups could not be read: ${where} answered more than ${OVERAGE_MAX_BYTES / 1024 / 1024} MiB`,
      error: `larger than ${OVERAGE_MAX_BYTES} bytes`,
    };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return { refused: `your groups could not be read: ${where} did not answer JSON`, error: "not JSON" };
  }
  // Graph answers {"value": [...]}; a plain distributed-claims source, the claim by its name.
  const list =
    doc && typeof doc === "object" && !Array.isArray(doc)
      ? Array.isArray((doc as Record<string, unknown>).value)
        ? (doc as Record<string, unknown>).value
        : (doc as Record<string, unknown>)[cfg.roleClaim]
      : undefined;
  if (!Array.isArray(list)) return { refused: `your groups could not be read: ${where} answered no list of groups`, error: "no list" };
  return { values: claimValues({ v: list }, "v", OVERAGE_MAX_VALUES), source: "endpoint" };
}
