import type { findCredential } from "./auth.repository.ts";

/**
 * Writes after which this node forgets every credential it remembers: all but the ingest of a
 * live stream (parts, init, still, telemetry — the hot path the memory is for). A write that may
 * end or change a credential (sign-out, password, MFA, users, tokens, a revoked invite, and any
 * added later) is then covered without being listed.
 */
export function credentialWrite(method: string, path: string): boolean {
  return method !== "GET" && method !== "HEAD" && !/^\/api\/v1\/streams\/[^/]+\/(chunks\/\d+|init|poster|telemetry)$/.test(path);
}

export type CredentialRow = NonNullable<Awaited<ReturnType<typeof findCredential>>>;

/** How long a credential read is reused by this node at most, even if a notice were lost. */
export const CREDENTIAL_CACHE_MS = 5_000;
const MAX_ENTRIES = 10_000;

/**
 * One API node's short memory of credential rows (token → user, role, revocation, expiry), so a
 * phone's uploads and a player's reloads do not read the same row several times a second.
 *
 * Safe because the database announces every change that can end a credential (migration 0012's
 * triggers NOTIFY rter_auth with the user id: token revoked, role, disabled, password): the
 * node's event listener calls forgetUser at once. Entries are used only while that listener is
 * connected and since the same connection (`generation`), and never longer than
 * CREDENTIAL_CACHE_MS. A read that raced a notice is not kept (the stamp taken before the read
 * no longer matches). Expiry and idle time are still judged on every request, with the clock.
 * Directory and OpenID Connect accounts are not kept: their checks re-read on their own schedule.
 */
export class CredentialCache {
  private readonly rows = new Map<string, { row: CredentialRow; until: number; stamp: string }>();
  private changes = 0;

  /** `generation`: the listener's connection number, null while it is not listening. */
  constructor(
    private readonly generation: () => number | null,
    private readonly ttlMs = CREDENTIAL_CACHE_MS,
  ) {}

  /** Taken before reading a row from the database; set() keeps the row only if it still holds. */
  stamp(): string | null {
    const g = this.generation();
    return g === null ? null : `${g}:${this.changes}`;
  }

  get(key: string): CredentialRow | undefined {
    const e = this.rows.get(key);
    if (!e) return undefined;
    if (e.until <= Date.now() || e.stamp.split(":")[0] !== String(this.generation())) {
      this.rows.delete(key);
      return undefined;
    }
    return e.row;
  }

  set(key: string, row: CredentialRow, stamp: string | null): void {
    if (stamp === null || stamp !== this.stamp() || row.directory_dn || row.oidc_subject) return;
    if (this.rows.size >= MAX_ENTRIES) this.rows.delete(this.rows.keys().next().value!);
    this.rows.set(key, { row, until: Date.now() + this.ttlMs, stamp });
  }

  /** A credential of this user may have ended (NOTIFY rter_auth). */
  forgetUser(userId: string): void {
    this.changes++;
    for (const [k, e] of this.rows) if (e.row.id === userId) this.rows.delete(k);
  }

  /**
   * Everything forgotten: called by this node after it handled a write that may end or change a
   * credential (credentialWrite), before the answer leaves, so its own client's next request never
   * races the notice.
   */
  clear(): void {
    this.changes++;
    this.rows.clear();
  }

  get size(): number {
    return this.rows.size;
  }
}
