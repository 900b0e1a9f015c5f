import type { Kysely } from "kysely";
import { generateSecret, generateURI, verify } from "otplib";
import { audit } from "../../audit/audit.service.ts";
import type { DB, UserRole } from "../../db/schema.ts";
import { AppError } from "../../errors.ts";
import { revokeUserSessions } from "../auth.repository.ts";
import { hashToken } from "../token.ts";
import * as repo from "./mfa.repository.ts";
import * as passkeys from "./webauthn.repository.ts";

/**
 * The second factor (CJIS "advanced authentication"): after the password (local or directory), a
 * user whose role is in --mfa-required, or who has enrolled anyway, gets a one-time challenge
 * instead of a session. The challenge is answered with a TOTP code (enrolling on the way when the
 * user has none yet), a passkey (webauthn.service.ts) or a one-time recovery code; only then is
 * the session made. Every step is audited. Codes are accepted once (RFC 6238 §5.2), within ±30 s of clock drift.
 */

const CHALLENGE_TTL_MS = 5 * 60_000;
const MAX_ATTEMPTS = 5;
const RECOVERY_CODES = 10;
const ISSUER = "rter";

export type MfaMethod = "totp" | "webauthn" | "recovery";

export interface MfaChallenge {
  challenge: string;
  /** false = the user must enrol (POST /auth/mfa/totp/enrol) before answering. */
  enrolled: boolean;
  methods: MfaMethod[];
  expiresAt: Date;
}

/** The second factors a user has enrolled (none = they enrol at their next challenged sign-in). */
export async function enrolledFactors(db: Kysely<DB>, userId: string): Promise<{ totp: boolean; passkeys: number }> {
  const [state, n] = await Promise.all([repo.totpState(db, userId), passkeys.countCredentials(db, userId)]);
  return { totp: !!state?.totp_enabled_at, passkeys: n };
}

/** Whether this sign-in needs a second step. */
export async function needsSecondFactor(db: Kysely<DB>, user: { id: string; role: UserRole }, required: readonly UserRole[]): Promise<boolean> {
  if (required.includes(user.role)) return true;
  const f = await enrolledFactors(db, user.id);
  return f.totp || f.passkeys > 0;
}

export async function startChallenge(db: Kysely<DB>, user: { id: string; email: string; role: UserRole }): Promise<MfaChallenge> {
  const challenge = `mfa_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url")}`;
  const expiresAt = new Date(Date.now() + CHALLENGE_TTL_MS);
  await repo.insertChallenge(db, { user_id: user.id, token_hash: hashToken(challenge), expires_at: expiresAt });
  const f = await enrolledFactors(db, user.id);
  const enrolled = f.totp || f.passkeys > 0;
  await audit(db, { action: "mfa.challenged", targetType: "user", targetId: user.id, actor: null, detail: { email: user.email, enrolled } });
  // Not enrolled: either factor may be set up now. Enrolled: only what they have, plus recovery.
  const methods: MfaMethod[] = !enrolled
    ? ["totp", "webauthn"]
    : [...(f.totp ? ["totp" as const] : []), ...(f.passkeys ? ["webauthn" as const] : []), "recovery"];
  return { challenge, enrolled, methods, expiresAt };
}

const badChallenge = () => new AppError("unauthorized", "the sign-in step expired or is unknown; sign in again");

/** Loads a live challenge, counting this use; too many answers end it. */
export async function takeChallenge(db: Kysely<DB>, challenge: string) {
  if (!/^mfa_[A-Za-z0-9_-]{43}$/.test(challenge)) throw badChallenge();
  const c = await repo.useChallenge(db, hashToken(challenge));
  if (!c) throw badChallenge();
  if (c.attempts > MAX_ATTEMPTS) {
    await repo.finishChallenge(db, c.id);
    throw new AppError("unauthorized", "too many wrong codes; sign in again");
  }
  const user = await repo.totpState(db, c.user_id);
  if (!user || user.disabled_at) throw badChallenge();
  return { c, user };
}

/** A new TOTP secret for a user who has none enabled yet; confirmed by the first good code. */
export async function enrolTotp(db: Kysely<DB>, challenge: string): Promise<{ secret: string; otpauthUri: string }> {
  const { user } = await takeChallenge(db, challenge);
  // With any factor enrolled, the password alone must not add another (that would bypass it).
  const f = await enrolledFactors(db, user.id);
  if (f.totp || f.passkeys > 0) throw new AppError("conflict", "a second factor is already enrolled; an admin can reset it");
  const secret = generateSecret();
  await repo.setPendingSecret(db, user.id, secret);
  await audit(db, { action: "mfa.enrolment_started", targetType: "user", targetId: user.id, actor: null, detail: { email: user.email, method: "totp" } });
  return { secret, otpauthUri: generateURI({ issuer: ISSUER, label: user.email, secret }) };
}

export type MfaAnswer = { code: string } | { recoveryCode: string };

/**
 * Checks the answer; on success the challenge is spent and the caller makes the session. A first
 * good code enables TOTP and hands back fresh recovery codes (shown once).
 */
export async function answerChallenge(
  db: Kysely<DB>,
  challenge: string,
  answer: MfaAnswer,
  onWrong: (email: string) => Promise<void>,
): Promise<{ user: { id: string; email: string; role: UserRole }; method: "totp" | "recovery"; recoveryCodes?: string[] }> {
  const { c, user } = await takeChallenge(db, challenge);
  const who = { id: user.id, email: user.email, role: user.role };
  const fail = async (reason: string) => {
    await audit(db, { action: "mfa.failed", targetType: "user", targetId: user.id, actor: null, detail: { email: user.email, reason, attempt: c.attempts } });
    // Counts toward the account's lockout (and throws 429 once it is locked).
    await onWrong(user.email);
    return new AppError("unauthorized", "the code is wrong or was already used");
  };
  const f = await enrolledFactors(db, user.id);
  if ("recoveryCode" in answer) {
    if (!f.totp && f.passkeys === 0) throw await fail("not_enrolled");
    if (!(await repo.useRecoveryCode(db, user.id, hashRecovery(answer.recoveryCode)))) throw await fail("recovery_code");
    await repo.finishChallenge(db, c.id);
    const left = Number((await repo.countUnusedRecoveryCodes(db, user.id)).n);
    await audit(db, { action: "mfa.recovery_used", targetType: "user", targetId: user.id, actor: who, detail: { email: user.email, left } });
    return { user: who, method: "recovery" };
  }
  // A pending secret never confirmed while a passkey was added since does not count.
  if (!user.totp_secret || (!user.totp_enabled_at && f.passkeys > 0)) throw await fail("not_enrolled");
  if (!/^\d{6}$/.test(answer.code)) throw await fail("malformed");
  const r = (await verify({ secret: user.totp_secret, token: answer.code, epochTolerance: 30 })) as { valid: boolean; timeStep?: number };
  if (!r.valid || r.timeStep === undefined) throw await fail("code");
  if (!(await repo.acceptStep(db, user.id, r.timeStep))) throw await fail("replayed");
  await repo.finishChallenge(db, c.id);
  if (user.totp_enabled_at) return { user: who, method: "totp" };
  const recoveryCodes = await issueRecoveryCodes(db, user.id);
  await audit(db, {
    action: "mfa.enrolled",
    targetType: "user",
    targetId: user.id,
    actor: who,
    detail: { email: user.email, method: "totp", recovery_codes: RECOVERY_CODES },
  });
  return { user: who, method: "totp", recoveryCodes };
}

/** Fresh one-time recovery codes (the old ones stop working); returned once, only hashes kept. */
export async function issueRecoveryCodes(db: Kysely<DB>, userId: string): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODES }, newRecoveryCode);
  await repo.replaceRecoveryCodes(db, userId, codes.map(hashRecovery));
  return codes;
}

/** Admin reset: TOTP, passkeys and recovery codes go; the user enrols again at their next sign-in; their sessions end now. */
export async function resetMfa(db: Kysely<DB>, userId: string): Promise<{ sessionsEnded: number }> {
  const user = await repo.clearMfa(db, userId);
  if (!user) throw new AppError("not_found", "no such user");
  const removed = await passkeys.deleteAllCredentials(db, userId);
  const ended = await revokeUserSessions(db, userId, null);
  await audit(db, {
    action: "mfa.reset",
    targetType: "user",
    targetId: userId,
    detail: { email: user.email, sessions_ended: ended.length, passkeys_removed: removed.length },
  });
  return { sessionsEnded: ended.length };
}

// 10 groups of base32-ish characters, read aloud or typed from paper: xxxxx-xxxxx.
function newRecoveryCode(): string {
  const alphabet = "abcdefghjkmnpqrstuvwxyz23456789";
  const b = crypto.getRandomValues(new Uint8Array(10));
  const s = Array.from(b, (x) => alphabet[x % alphabet.length]).join("");
  return `${s.slice(0, 5)}-${s.slice(5)}`;
}

function hashRecovery(code: string): Buffer {
  return Buffer.from(new Bun.CryptoHasher("sha256").update(code.trim().toLowerCase().replace(/\s+/g, "")).digest());
}
