import * as client from "openid-client";
import type { OidcConfig } from "../../config/oidc.ts";
import { AppError } from "../../errors.ts";

/**
 * The OpenID Connect provider as rter reaches it, through openid-client (v6): discovery once per
 * process (kept for an hour, so a provider's new endpoints are picked up; the signing keys are
 * fetched and rotated by openid-client itself), every request bounded by --oidc-timeout. A
 * provider that does not answer is an AppError "unavailable" (503 with Retry-After); an answer
 * that refuses (invalid_grant, access_denied, a bad ID token) is returned to the caller to judge.
 */

const KEEP_MS = 3_600_000;
const discovered = new WeakMap<OidcConfig, { at: number; config: Promise<client.Configuration> }>();

export function providerConfig(cfg: OidcConfig): Promise<client.Configuration> {
  const hit = discovered.get(cfg);
  if (hit && Date.now() - hit.at < KEEP_MS) return hit.config;
  const config = client
    .discovery(new URL(cfg.issuer), cfg.clientId, { client_secret: cfg.clientSecret }, client.ClientSecretBasic(cfg.clientSecret), {
      timeout: Math.max(1, Math.ceil(cfg.timeoutMs / 1000)),
      // An http:// issuer is for a provider on a protected link (and the tests); https is the rule.
      execute: cfg.issuer.startsWith("http:") ? [client.allowInsecureRequests] : [],
    })
    .catch((e) => {
      // A failed discovery is tried again by the next sign-in, not remembered.
      discovered.delete(cfg);
      throw isOutage(e)
        ? unavailable(cfg, e)
        : new AppError("unavailable", `the identity provider's discovery document at ${cfg.issuer} is not usable: ${reason(e)}`, { retryAfterSeconds: 60 });
    });
  discovered.set(cfg, { at: Date.now(), config });
  return config;
}

/** The provider did not answer (network, timeout, 5xx, not JSON), as opposed to answering "no". */
export function isOutage(e: unknown): boolean {
  if (e instanceof TypeError) return true;
  if (e instanceof client.ResponseBodyError) return e.status >= 500;
  if (e instanceof client.ClientError) {
    if (["OAUTH_TIMEOUT", "OAUTH_ABORT", "OAUTH_RESPONSE_IS_NOT_CONFORM", "OAUTH_RESPONSE_IS_NOT_JSON"].includes(e.code ?? "")) return true;
    // "something went wrong" around a network error of the runtime's fetch (refused, reset, DNS).
    return e.code === undefined && e.cause instanceof Error && !(e.cause instanceof client.ClientError);
  }
  return false;
}

export function unavailable(cfg: OidcConfig, e: unknown): AppError {
  return new AppError("unavailable", `the identity provider (OpenID Connect, ${cfg.issuer}) is not answering: ${reason(e)}; local accounts can still sign in`, {
    retryAfterSeconds: 30,
  });
}

/** One line on what went wrong, bounded: provider error strings are not ours to echo at length. */
export function reason(e: unknown): string {
  if (e instanceof client.ResponseBodyError || e instanceof client.AuthorizationResponseError) {
    return clip(`${e.error}${e.error_description ? `: ${e.error_description}` : ""}`);
  }
  const cause = e instanceof Error && e.cause instanceof Error ? ` (${e.cause.message})` : "";
  return clip(`${e instanceof Error ? e.message : String(e)}${cause}`);
}

export function clip(s: string, max = 200): string {
  // Control characters would let a provider's text forge log or audit lines.
  const flat = s.replace(/[\u0000-\u001f\u007f]/g, " ");
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
