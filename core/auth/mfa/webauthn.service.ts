import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from "@simplewebauthn/server";
import type { Kysely } from "kysely";
import { audit } from "../../audit/audit.service.ts";
import type { DB, UserRole } from "../../db/schema.ts";
import { AppError } from "../../errors.ts";
import { enrolledFactors, issueRecoveryCodes, takeChallenge } from "./mfa.service.ts";
import * as repo from "./webauthn.repository.ts";
import * as totp from "./mfa.repository.ts";

/**
 * Passkeys (WebAuthn) as a second factor, with @simplewebauthn/server doing the ceremonies'
 * cryptography. rter keeps each ceremony's challenge server side (5 minutes, spent once), checks
 * the origin and RP ID against --public-url, and moves each credential's signature counter
 * forward on every assertion (a counter that goes back means a cloned authenticator: refused and
 * audited). A passkey is added either signed in (the account page) or during a challenged sign-in
 * of a user with no factor yet; it is used during the second step of a sign-in.
 */

const CEREMONY_TTL_MS = 5 * 60_000;
const MAX_PASSKEYS = 10;

export interface RelyingParty {
  /** The RP ID: the host name of --public-url (WebAuthn refuses IP addresses; use a name, e.g. localhost). */
  id: string;
  /** The exact origin the browser must report (scheme, host, port). */
  origin: string;
  name: string;
}

export function relyingParty(publicUrl: string): RelyingParty {
  const u = new URL(publicUrl);
  return { id: u.hostname, origin: u.origin, name: "rter" };
}

export interface PasskeyView {
  id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
  device_type: string | null;
  backed_up: boolean;
  transports: string[];
}

type Who = { id: string; email: string; role: UserRole };

function view(r: {
  id: string;
  name: string;
  created_at: Date | string;
  last_used_at: Date | string | null;
  device_type: string | null;
  backed_up: boolean;
  transports: string[];
}): PasskeyView {
  const iso = (d: Date | string) => new Date(d).toISOString();
  return {
    id: r.id,
    name: r.name,
    created_at: iso(r.created_at),
    last_used_at: r.last_used_at ? iso(r.last_used_at) : null,
    device_type: r.device_type,
    backed_up: r.backed_up,
    transports: r.transports,
  };
}

export async function listPasskeys(db: Kysely<DB>, userId: string): Promise<PasskeyView[]> {
  return (await repo.listCredentials(db, userId)).map(view);
}

// ---- what the browser sent, decoded before the library sees it (for precise answers) ----

type Purpose = "register" | "authenticate";
export type CeremonyFailure = "malformed" | "challenge" | "origin" | "type" | "rp_id" | "signature" | "counter" | "unknown_credential" | "user_presence";

/** A refused ceremony: `reason` goes to the audit trail, `message` to the caller. */
class Refused extends Error {
  constructor(
    readonly reason: CeremonyFailure,
    message: string,
  ) {
    super(message);
  }
}

function b64urlJson(s: string): unknown {
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(s)) throw new Refused("malformed", "clientDataJSON is not base64url");
  try {
    return JSON.parse(Buffer.from(s, "base64url").toString("utf8"));
  } catch {
    throw new Refused("malformed", "clientDataJSON is not JSON");
  }
}

/** The challenge, origin and type the browser signed, checked before any cryptography. */
function clientData(response: { response: { clientDataJSON: string } }, rp: RelyingParty, purpose: Purpose): { challenge: string } {
  const cd = b64urlJson(response.response.clientDataJSON) as { type?: unknown; challenge?: unknown; origin?: unknown };
  if (!cd || typeof cd !== "object" || typeof cd.challenge !== "string" || typeof cd.origin !== "string" || typeof cd.type !== "string") {
    throw new Refused("malformed", "clientDataJSON lacks type, challenge or origin");
  }
  const want = purpose === "register" ? "webauthn.create" : "webauthn.get";
  if (cd.type !== want) throw new Refused("type", `clientDataJSON type is ${JSON.stringify(cd.type).slice(0, 40)}, expected ${want}`);
  if (cd.origin !== rp.origin) throw new Refused("origin", `the passkey answered for origin ${JSON.stringify(cd.origin).slice(0, 120)}, not ${rp.origin}`);
  if (!/^[A-Za-z0-9_-]{16,128}$/.test(cd.challenge)) throw new Refused("malformed", "clientDataJSON challenge is not base64url");
  return { challenge: cd.challenge };
}

/** The library's refusals, sorted into reasons (it throws plain Errors). */
function libraryFailure(e: unknown): Refused {
  if (e instanceof Refused) return e;
  const m = e instanceof Error ? e.message : String(e);
  if (/counter/i.test(m)) return new Refused("counter", "the authenticator's signature counter did not advance (a cloned or replayed passkey)");
  if (/rp ?id/i.test(m)) return new Refused("rp_id", `the passkey is for another site (RP ID): ${m.slice(0, 160)}`);
  if (/origin/i.test(m)) return new Refused("origin", m.slice(0, 200));
  if (/user (presence|verification)|not present/i.test(m)) return new Refused("user_presence", m.slice(0, 200));
  return new Refused("malformed", `the passkey response cannot be read: ${m.slice(0, 200)}`);
}

async function newCeremony(db: Kysely<DB>, userId: string, purpose: Purpose, mfaChallengeId: string | null, challenge: string): Promise<void> {
  await repo.deleteExpiredChallenges(db, userId);
  await repo.insertChallenge(db, { user_id: userId, purpose, challenge, mfa_challenge_id: mfaChallengeId, expires_at: new Date(Date.now() + CEREMONY_TTL_MS) });
}

// ---- registration ----

async function registrationOptions(
  db: Kysely<DB>,
  rp: RelyingParty,
  user: Who,
  mfaChallengeId: string | null,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const existing = await repo.listCredentials(db, user.id);
  if (existing.length >= MAX_PASSKEYS) throw new AppError("conflict", `at most ${MAX_PASSKEYS} passkeys per account; remove one first`);
  const options = await generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: user.email,
    // The user's uuid: the same handle on every registration, so an authenticator keeps one passkey per account.
    userID: new Uint8Array(Buffer.from(user.id.replace(/-/g, ""), "hex")),
    attestationType: "none",
    excludeCredentials: existing.map((c) => ({ id: c.credential_id, transports: c.transports })),
    authenticatorSelection: { residentKey: "preferred", userVerification: "preferred" },
    timeout: CEREMONY_TTL_MS,
  });
  await newCeremony(db, user.id, "register", mfaChallengeId, options.challenge);
  await audit(db, {
    action: "mfa.enrolment_started",
    targetType: "user",
    targetId: user.id,
    actor: mfaChallengeId ? null : undefined,
    detail: { email: user.email, method: "webauthn" },
  });
  return options;
}

async function finishRegistration(
  db: Kysely<DB>,
  rp: RelyingParty,
  user: Who,
  response: RegistrationResponseJSON,
  name: string | undefined,
  mfaChallengeId: string | null,
): Promise<{ passkey: PasskeyView; recoveryCodes?: string[] }> {
  const { challenge } = clientData(response, rp, "register");
  if (!(await repo.spendChallenge(db, { user_id: user.id, purpose: "register", challenge, mfa_challenge_id: mfaChallengeId }))) {
    throw new Refused("challenge", "the passkey challenge is unknown, expired or already used; start again");
  }
  let info;
  try {
    const r = await verifyRegistrationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: false,
    });
    if (!r.verified) throw new Refused("signature", "the passkey registration did not verify");
    info = r.registrationInfo;
  } catch (e) {
    throw libraryFailure(e);
  }
  const before = await enrolledFactors(db, user.id);
  const row = await repo.insertCredential(db, {
    user_id: user.id,
    credential_id: info.credential.id,
    public_key: Buffer.from(info.credential.publicKey),
    counter: info.credential.counter,
    transports: (response.response.transports ?? []).filter((t) => typeof t === "string").slice(0, 8),
    name: name?.trim() || `Passkey ${new Date().toISOString().slice(0, 10)}`,
    aaguid: info.aaguid,
    device_type: info.credentialDeviceType,
    backed_up: info.credentialBackedUp,
  });
  if (!row) throw new AppError("conflict", "this passkey is already registered");
  // A TOTP secret that was started but never confirmed must not become a way around the passkey.
  if (!before.totp) await totp.clearPendingSecret(db, user.id);
  const first = !before.totp && before.passkeys === 0;
  const recoveryCodes = first ? await issueRecoveryCodes(db, user.id) : undefined;
  const actor = mfaChallengeId ? { id: user.id, email: user.email, role: user.role } : undefined;
  await audit(db, {
    action: first ? "mfa.enrolled" : "mfa.passkey_added",
    targetType: "user",
    targetId: user.id,
    actor,
    detail: {
      email: user.email,
      method: "webauthn",
      passkey_id: row.id,
      name: row.name,
      aaguid: info.aaguid,
      ...(first ? { recovery_codes: recoveryCodes!.length } : {}),
    },
  });
  return { passkey: view(row), ...(recoveryCodes ? { recoveryCodes } : {}) };
}

/** Signed in (the account page): options to add a passkey. */
export function accountRegistrationOptions(db: Kysely<DB>, rp: RelyingParty, user: Who) {
  return registrationOptions(db, rp, user, null);
}

/** Signed in: the browser's answer; a refusal is 400 with what was wrong. */
export async function accountRegistration(db: Kysely<DB>, rp: RelyingParty, user: Who, response: RegistrationResponseJSON, name?: string) {
  try {
    return await finishRegistration(db, rp, user, response, name, null);
  } catch (e) {
    if (!(e instanceof Refused)) throw e;
    await audit(db, { action: "mfa.passkey_refused", targetType: "user", targetId: user.id, detail: { email: user.email, reason: e.reason } });
    throw new AppError("bad_request", e.message);
  }
}

/** During a challenged sign-in of a user with no factor yet: options to add the first passkey. */
export async function signInRegistrationOptions(db: Kysely<DB>, rp: RelyingParty, challenge: string) {
  const { c, user } = await takeChallenge(db, challenge);
  const f = await enrolledFactors(db, user.id);
  // With any factor enrolled, the password alone must not add another (that would bypass it).
  if (f.totp || f.passkeys > 0) throw new AppError("conflict", "a second factor is already enrolled; use it (an admin can reset it)");
  return registrationOptions(db, rp, { id: user.id, email: user.email, role: user.role }, c.id);
}

/** The sign-in's first passkey: on success the pending sign-in is spent and the caller makes the session. */
export async function signInRegistration(db: Kysely<DB>, rp: RelyingParty, challenge: string, response: RegistrationResponseJSON, name: string | undefined) {
  const { c, user } = await takeChallenge(db, challenge);
  const who = { id: user.id, email: user.email, role: user.role };
  const f = await enrolledFactors(db, user.id);
  if (f.totp || f.passkeys > 0) throw new AppError("conflict", "a second factor is already enrolled; use it (an admin can reset it)");
  try {
    const r = await finishRegistration(db, rp, who, response, name, c.id);
    await totp.finishChallenge(db, c.id);
    return { user: who, recoveryCodes: r.recoveryCodes };
  } catch (e) {
    if (!(e instanceof Refused)) throw e;
    await audit(db, {
      action: "mfa.failed",
      targetType: "user",
      targetId: user.id,
      actor: null,
      detail: { email: user.email, method: "webauthn", step: "register", reason: e.reason, attempt: c.attempts },
    });
    throw new AppError("bad_request", e.message);
  }
}

// ---- authentication (the second step of a sign-in) ----

export async function signInAuthenticationOptions(db: Kysely<DB>, rp: RelyingParty, challenge: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const { c, user } = await takeChallenge(db, challenge);
  const creds = await repo.listCredentials(db, user.id);
  if (creds.length === 0) throw new AppError("conflict", "no passkey is registered for this account");
  const options = await generateAuthenticationOptions({
    rpID: rp.id,
    allowCredentials: creds.map((k) => ({ id: k.credential_id, transports: k.transports })),
    userVerification: "preferred",
    timeout: CEREMONY_TTL_MS,
  });
  await newCeremony(db, user.id, "authenticate", c.id, options.challenge);
  return options;
}

/**
 * Checks an assertion against the pending sign-in. Refusals count toward the account's lockout
 * like wrong codes; a malformed answer is 400, any other refusal 401 with what was wrong.
 */
export async function signInAuthentication(
  db: Kysely<DB>,
  rp: RelyingParty,
  challenge: string,
  response: AuthenticationResponseJSON,
  onWrong: (email: string) => Promise<void>,
): Promise<{ user: Who; method: "webauthn" }> {
  const { c, user } = await takeChallenge(db, challenge);
  const who = { id: user.id, email: user.email, role: user.role };
  try {
    const { challenge: signed } = clientData(response, rp, "authenticate");
    const cred = await repo.findCredential(db, user.id, response.id);
    if (!cred) throw new Refused("unknown_credential", "this passkey is not registered for this account");
    if (!(await repo.spendChallenge(db, { user_id: user.id, purpose: "authenticate", challenge: signed, mfa_challenge_id: c.id }))) {
      throw new Refused("challenge", "the passkey challenge is unknown, expired or already used; start again");
    }
    let r;
    try {
      r = await verifyAuthenticationResponse({
        response,
        expectedChallenge: signed,
        expectedOrigin: rp.origin,
        expectedRPID: rp.id,
        credential: { id: cred.credential_id, publicKey: new Uint8Array(cred.public_key), counter: Number(cred.counter), transports: cred.transports },
        requireUserVerification: false,
      });
    } catch (e) {
      throw libraryFailure(e);
    }
    if (!r.verified) throw new Refused("signature", "the passkey's signature did not verify");
    if (!(await repo.advanceCounter(db, cred.id, String(cred.counter), r.authenticationInfo.newCounter))) {
      throw new Refused("counter", "the authenticator's signature counter did not advance (a cloned or replayed passkey)");
    }
    await totp.finishChallenge(db, c.id);
    return { user: who, method: "webauthn" };
  } catch (e) {
    if (!(e instanceof Refused)) throw e;
    await audit(db, {
      action: "mfa.failed",
      targetType: "user",
      targetId: user.id,
      actor: null,
      detail: { email: user.email, method: "webauthn", reason: e.reason, attempt: c.attempts },
    });
    if (e.reason === "malformed") throw new AppError("bad_request", e.message);
    // Counts toward the account's lockout (and throws 429 once it is locked).
    await onWrong(user.email);
    throw new AppError("unauthorized", e.message);
  }
}

// ---- the account page ----

/**
 * Removes one of the caller's passkeys (someone else's id is 404). The last second factor of a
 * role that needs one stays: removing it would let the password alone enrol a new one.
 */
export async function removePasskey(db: Kysely<DB>, user: Who, id: string, required: readonly UserRole[]): Promise<void> {
  const f = await enrolledFactors(db, user.id);
  const mine = (await repo.listCredentials(db, user.id)).some((k) => k.id === id);
  if (!mine) throw new AppError("not_found", "no such passkey");
  if (required.includes(user.role) && !f.totp && f.passkeys <= 1) {
    throw new AppError(
      "conflict",
      `the ${user.role} role needs a second factor: add another passkey before removing this one (or an admin resets your second factor)`,
    );
  }
  const gone = await repo.deleteCredential(db, user.id, id);
  if (!gone) throw new AppError("not_found", "no such passkey");
  await audit(db, {
    action: "mfa.passkey_removed",
    targetType: "user",
    targetId: user.id,
    detail: { email: user.email, passkey_id: gone.id, name: gone.name },
  });
}
