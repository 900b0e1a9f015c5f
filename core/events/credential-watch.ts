import type { Kysely } from "kysely";
import { findCredentialsByIds } from "../auth/auth.repository.ts";
import type { Role } from "../auth/role.ts";
import { credentialProblem, effectiveRole, type AuthSettings } from "../auth/auth.service.ts";
import { recheckIfStale } from "../auth/directory/directory.service.ts";
import { recheckOidcSession } from "../auth/oidc/recheck.ts";
import type { DB } from "../db/schema.ts";
import type { Logger } from "../log.ts";

/** An open event stream as the watch sees it: the credential it was opened with and how to end it. */
export interface WatchedStream {
  tokenId: string;
  /** The role the stream was opened with: any other role now (a demotion, a promotion) ends it. */
  role: Role;
  end(reason: string): void;
}

/** Every this often the node rechecks the credentials of all its open streams (expiry, idle time, lost notifications). */
export const RECHECK_MS = 2_000;

/**
 * Ends open event streams whose credential no longer holds: revoked (logout, password change,
 * admin revoke), user disabled, role changed, token or session expired or idle. A request is
 * checked once, when it starts; a stream lives for minutes, so this node rechecks the credentials
 * of all its streams together in one query, every RECHECK_MS and at once when the database
 * announces a credential change (NOTIFY rter_auth, from triggers, so every writer and every node
 * agree). Cost: one indexed query per node per interval, however many streams are open.
 */
export class CredentialWatch {
  private streams = new Set<WatchedStream>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private running: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly settings: Pick<AuthSettings, "sessionIdleMs" | "ldap" | "oidc">,
    private readonly log: Logger,
    private readonly everyMs = RECHECK_MS,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => this.recheck(), this.everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  watch(s: WatchedStream): () => void {
    this.streams.add(s);
    return () => this.streams.delete(s);
  }

  get watching(): number {
    return this.streams.size;
  }

  /** One recheck at a time; a request during one runs another right after it. */
  recheck(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    if (this.streams.size === 0) return Promise.resolve();
    this.running = (async () => {
      do {
        this.again = false;
        await this.checkOnce();
      } while (this.again);
    })()
      .catch((e) => this.log.debug("event stream credential recheck failed", { err: (e as Error).message }))
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  private async checkOnce(): Promise<void> {
    const open = [...this.streams];
    if (open.length === 0) return;
    let rows = await findCredentialsByIds(this.db, [...new Set(open.map((s) => s.tokenId))]);
    // Directory users whose groups are due a re-read: read them now (a stream is one long request),
    // then judge the rows as they are afterwards. A directory that does not answer ends their streams.
    const ended = new Map<string, string>();
    const due = rows.filter(
      (r) => r.directory_dn && !r.disabled_at && Date.now() - new Date(r.directory_checked_at ?? 0).getTime() >= (this.settings.ldap?.cacheMs ?? 0),
    );
    if (due.length > 0) {
      await Promise.all(
        [...new Map(due.map((r) => [r.user_id, r])).values()].map((r) =>
          recheckIfStale(this.db, this.settings.ldap ?? null, {
            id: r.user_id,
            email: r.email,
            role: r.role,
            directory_dn: r.directory_dn,
            directory_checked_at: r.directory_checked_at,
          }).then(
            (fresh) => void (fresh && "disabled" in fresh && ended.set(r.user_id, "disabled by the directory")),
            () => void ended.set(r.user_id, "directory unavailable"),
          ),
        ),
      );
      rows = await findCredentialsByIds(this.db, [...new Set(open.map((s) => s.tokenId))]);
    }
    // Sessions from the OpenID Connect provider due their re-check (refresh grant): the same, per session.
    const oidcDue = rows.filter(
      (r) =>
        r.oidc_subject &&
        r.kind === "session" &&
        !r.disabled_at &&
        !r.revoked_at &&
        Date.now() - new Date(r.oidc_checked_at ?? 0).getTime() >= (this.settings.oidc?.recheckMs ?? 0),
    );
    if (oidcDue.length > 0) {
      await Promise.all(
        oidcDue.map((r) =>
          recheckOidcSession(this.db, this.settings.oidc ?? null, {
            token_id: r.token_id,
            kind: r.kind,
            id: r.user_id,
            email: r.email,
            role: r.role,
            oidc_subject: r.oidc_subject,
          }).then(
            (v) => void (v && "ended" in v && ended.set(r.user_id, "ended by the identity provider")),
            () => void ended.set(r.user_id, "identity provider unavailable"),
          ),
        ),
      );
      rows = await findCredentialsByIds(this.db, [...new Set(open.map((s) => s.tokenId))]);
    }
    const byId = new Map(rows.map((r) => [r.token_id, r]));
    const now = Date.now();
    for (const s of open) {
      const row = byId.get(s.tokenId);
      const problem = !row
        ? "revoked"
        : ended.has(row.user_id)
          ? ended.get(row.user_id)!
          : (credentialProblem(row, now, this.settings) ?? (effectiveRole(row) !== s.role ? "role changed" : null));
      if (!problem) continue;
      this.streams.delete(s);
      try {
        s.end(problem);
      } catch (e) {
        this.log.debug("ending an event stream failed", { err: (e as Error).message });
      }
    }
  }
}
