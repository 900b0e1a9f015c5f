import type { Role } from "./role.ts";

/**
 * Who may call which route: the one table the request guard enforces, the security test walks
 * (every route of GET /api/openapi.json, with every role) and docs/security.md shows. A route missing
 * here fails that test. Keys are "METHOD /path" in OpenAPI form ({id}, not :id).
 *
 *   all  — the role may call it for anything it addresses
 *   own  — the role may call it, but only for what it owns; anything else is 404 (never 403,
 *          so ids cannot be probed). Enforced by the service (core/auth/guards.ts).
 *   none — 403 before the request body is even looked at
 *
 * Public routes answer without credentials (health, sign-in, invite acceptance).
 */
export type Grant = "all" | "own" | "none";
export type RouteRule = { public: true; note?: string } | { public?: false; roles: Record<Role, Grant>; note?: string };

const g = (admin: Grant, operator: Grant, reporter: Grant, viewer: Grant, note?: string): RouteRule => ({ roles: { admin, operator, reporter, viewer }, note });
const pub = (note?: string): RouteRule => ({ public: true, note });
/** Every signed-in role, each for what it may see. */
const everyone = (note?: string) => g("all", "all", "all", "all", note);
/** Reporters only their own; everyone else all. */
const seeOwn = (note?: string) => g("all", "all", "own", "all", note);
/** Writes by the reporter who owns it, and by staff; never viewers. */
const writeOwn = (note?: string) => g("all", "all", "own", "none", note);
const staff = (note?: string) => g("all", "all", "none", "none", note);
const admin = (note?: string) => g("all", "none", "none", "none", note);
const writers = (note?: string) => g("all", "all", "all", "none", note);

export const ACCESS: Record<string, RouteRule> = {
  // Health and documentation: load balancers and monitoring probe without credentials.
  "GET /healthz": pub(),
  "GET /readyz": pub(),
  "GET /metrics": pub(),
  "GET /api/v1/status": pub(),
  "GET /api/openapi.json": pub(),
  "GET /api/docs": pub(),

  // Accounts and sessions.
  "POST /api/v1/auth/login": pub("rate-limited per address; locks the account after repeated failures"),
  "POST /api/v1/auth/mfa": pub("second step of a sign-in (challenge from login's 202); wrong codes count toward the lockout"),
  "POST /api/v1/auth/mfa/totp/enrol": pub("only with a live sign-in challenge of a user without a second factor"),
  "POST /api/v1/auth/mfa/webauthn/options": pub("only with a live sign-in challenge of a user with a passkey"),
  "POST /api/v1/auth/mfa/webauthn": pub("second step with a passkey; a refused assertion counts toward the lockout"),
  "POST /api/v1/auth/mfa/webauthn/register/options": pub("only with a live sign-in challenge of a user without a second factor"),
  "POST /api/v1/auth/mfa/webauthn/register": pub("only with a live sign-in challenge of a user without a second factor"),
  "GET /api/v1/auth/passkeys": everyone("own passkeys only"),
  "POST /api/v1/auth/passkeys/options": everyone("for the caller's own account"),
  "POST /api/v1/auth/passkeys": everyone("adds to the caller's own account"),
  "DELETE /api/v1/auth/passkeys/{id}": everyone("own passkeys only (else 404); the last factor of a role that needs one stays (409)"),
  "GET /api/v1/auth/me": everyone(),
  "POST /api/v1/auth/logout": everyone("ends the calling credential: a session ends, an API token is revoked"),
  "GET /api/v1/auth/oidc": pub("whether OpenID Connect sign-in is offered"),
  "GET /api/v1/auth/oidc/start": pub("rate-limited per address; 404 when OIDC is not configured"),
  "GET /api/v1/auth/oidc/callback": pub("only with this browser's flow cookie and matching state; rate-limited per address"),
  "POST /api/v1/auth/oidc/logout": everyone("ends the calling session and its provider tokens; API tokens are refused (400)"),
  "POST /api/v1/auth/password": everyone("own password only, with the current one; ends the caller's other sessions"),
  "POST /api/v1/invites/accept": pub("one-time invite token; rate-limited per address"),
  "POST /api/v1/invites": staff("operators invite reporters and viewers; admins also operators"),
  "GET /api/v1/invites": staff(),
  "DELETE /api/v1/invites/{id}": staff("revoking a used invite also signs its user out"),
  "GET /api/v1/admin/users": admin(),
  "POST /api/v1/admin/users": admin(),
  "PATCH /api/v1/admin/users/{id}": admin("role change or disabling ends the user's sessions and tokens"),
  "POST /api/v1/admin/users/{id}/unlock": admin(),
  "POST /api/v1/admin/users/{id}/password": admin("ends all the user's sessions"),
  "DELETE /api/v1/admin/users/{id}/mfa": admin("the user enrols again at the next sign-in; ends their sessions"),
  "GET /api/v1/admin/tokens": admin(),
  "POST /api/v1/admin/tokens": admin("role of the token at most the user's"),
  "DELETE /api/v1/admin/tokens/{id}": admin(),
  "GET /api/v1/admin/audit": admin(),
  "GET /api/v1/admin/audit/export": admin(),
  "GET /api/v1/admin/audit/verify": admin("recomputes the hash chain"),

  // Live video (API-CONTRACT.md).
  "POST /api/v1/streams": writers("viewers cannot create streams"),
  "GET /api/v1/streams": seeOwn("reporters get only their own streams in the list"),
  "GET /api/v1/streams/{id}": seeOwn(),
  "PUT /api/v1/streams/{id}/init": writeOwn("CMAF init segment; fixes the stream as CMAF"),
  "PUT /api/v1/streams/{id}/chunks/{seq}": writeOwn(),
  "PUT /api/v1/streams/{id}/poster": writeOwn("the live grid's still (image/jpeg), not evidence"),
  "POST /api/v1/streams/{id}/telemetry": writeOwn(),
  "GET /api/v1/streams/{id}/telemetry": seeOwn(),
  "POST /api/v1/streams/{id}/finish": writeOwn(),
  "GET /api/v1/streams/{id}/hls/index.m3u8": seeOwn("audited as stream.viewed, once per user and stream per 5 minutes"),
  "GET /api/v1/streams/{id}/hls/segments/{file}": seeOwn(),
  "GET /api/v1/streams/{id}/hls/init.mp4": seeOwn("CMAF streams"),
  "GET /api/v1/streams/{id}/hls/parts/{file}": seeOwn("CMAF streams; the next part is waited for briefly"),
  "GET /api/v1/streams/{id}/poster.jpg": seeOwn(),
  "GET /api/v1/streams/{id}/recording.mp4": seeOwn("audited as recording.downloaded"),
  "DELETE /api/v1/streams/{id}": admin("refused (409) while the stream is under legal hold"),
  "POST /api/v1/streams/{id}/hold": staff(),
  "DELETE /api/v1/streams/{id}/hold": admin(),
  "PUT /api/v1/streams/{id}/retention": admin(),
  "GET /api/v1/admin/holds": staff(),
  "GET /api/v1/events": seeOwn("reporters receive only their own streams' events"),

  // Items, tags (workspaces) and guidance (core/items, core/tags, core/guidance).
  "GET /api/v1/items": seeOwn("reporters get only their own items"),
  "POST /api/v1/items": writers(),
  "POST /api/v1/items/photos": writers(),
  "GET /api/v1/items/{id}": seeOwn(),
  "GET /api/v1/items/{id}/photo": seeOwn("audited as photo.viewed, once per user and photo per 5 minutes"),
  "POST /api/v1/items/{id}/tags": staff(),
  "DELETE /api/v1/items/{id}/tags/{tag}": staff(),
  "DELETE /api/v1/items/{id}": admin("refused (409) while the item or its stream is under legal hold"),
  "POST /api/v1/items/{id}/hold": staff("a stream's item is held through its stream"),
  "DELETE /api/v1/items/{id}/hold": admin(),
  "PATCH /api/v1/items/{id}": writeOwn(
    "title, body, position; refused (409) while the item or its stream is under legal hold; audited as item.edited with old and new values",
  ),
  "GET /api/v1/items/{id}/comments": seeOwn(),
  "POST /api/v1/items/{id}/comments": writeOwn("audited as item.commented"),
  "GET /api/v1/tags": g("all", "all", "none", "all", "workspaces are operator data"),
  "POST /api/v1/tags": staff(),
  "PUT /api/v1/tags/{name}/order": staff(),
  "GET /api/v1/tags/{name}/rules": g("all", "all", "none", "all"),
  "POST /api/v1/tags/{name}/rules": admin(),
  "DELETE /api/v1/tags/{name}/rules/{id}": admin(),
  "PUT /api/v1/tags/{name}/retention": admin(),
  "DELETE /api/v1/tags/{name}/retention": admin(),
  "GET /api/v1/streams/{id}/guidance": seeOwn("a reporter reads the guidance of their own streams"),
  "PUT /api/v1/streams/{id}/guidance": staff(),
  "DELETE /api/v1/streams/{id}/guidance": staff(),
  "GET /api/v1/streams/{id}/guidance/lock": staff("who holds the direction lock of a reporter"),
  "PUT /api/v1/streams/{id}/guidance/lock": staff("take the direction lock; held by another operator it needs takeover: true (audited)"),
  "DELETE /api/v1/streams/{id}/guidance/lock": staff("the holder lets go"),
  "GET /api/v1/ui-config": pub("map tile URL and version; no secrets"),

  // Evidence packages (core/evidence).
  "POST /api/v1/exports": staff("a batch job builds the package; audited as export.requested"),
  "GET /api/v1/exports": staff(),
  "GET /api/v1/exports/{id}": staff(),
  "GET /api/v1/exports/{id}/download": staff("audited as export.downloaded"),
  "GET /api/v1/admin/signing-key": staff("the Ed25519 public key that signs evidence packages"),
  "GET /api/v1/timeline": seeOwn("reporters get only their own streams, items and guidance"),

  // Operations.
  "POST /api/v1/admin/queue-probes": admin(),
  "GET /api/v1/admin/queue-probes/{id}": admin(),
  "GET /api/v1/admin/jobs/failed": admin(),
  "POST /api/v1/admin/jobs/retry-all": admin(),
  "POST /api/v1/admin/jobs/{id}/retry": admin(),
  "POST /api/v1/admin/fixity": admin(),
  "GET /api/v1/admin/fixity/failures": admin(),
};

/** "GET" and "/api/v1/streams/:id" (Elysia's route) to the matrix key. HEAD is GET. */
export function accessKey(method: string, route: string): string {
  const m = method.toUpperCase() === "HEAD" ? "GET" : method.toUpperCase();
  const path = route.replace(/:([A-Za-z0-9_]+)/g, "{$1}").replace(/(.)\/+$/, "$1");
  return `${m} ${path}`;
}

export function ruleFor(method: string, route: string): RouteRule | undefined {
  return ACCESS[accessKey(method, route)];
}

/** The matrix as a Markdown table, for docs/security.md (bun scripts/role-matrix.ts --write; kept equal by test/integration/security-matrix.test.ts). */
export function matrixMarkdown(): string {
  const mark: Record<Grant, string> = { all: "yes", own: "own", none: "—" };
  const lines = ["| route | admin | operator | reporter | viewer | notes |", "|---|---|---|---|---|---|"];
  for (const [key, rule] of Object.entries(ACCESS)) {
    const cells = rule.public
      ? ["public", "public", "public", "public"]
      : (["admin", "operator", "reporter", "viewer"] as const).map((r) => mark[rule.roles[r]]);
    lines.push(`| \`${key}\` | ${cells.join(" | ")} | ${rule.note ?? ""} |`);
  }
  return lines.join("\n");
}
