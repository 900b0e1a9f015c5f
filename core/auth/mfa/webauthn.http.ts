import { Elysia, t } from "elysia";
import type { RegistrationResponseJSON, AuthenticationResponseJSON } from "@simplewebauthn/server";
import type { ApiContext } from "../../runtime.ts";
import { limitSignIn, requireUser, sessionBody } from "../auth.http.ts";
import { IdParams, LoginResponse } from "../auth.model.ts";
import { sessionAfterSecondFactor, wrongAnswerCounter } from "../auth.service.ts";
import { AccountRegisterBody, CeremonyOptions, Passkey, PasskeyAdded, SignInAssertBody, SignInChallengeBody, SignInRegisterBody } from "./webauthn.model.ts";
import * as passkeys from "./webauthn.service.ts";

/**
 * Passkeys: the sign-in's second step (public, bound to the challenge of login's 202) and the
 * signed-in user's own list on the account page. The RP ID and origin come from --public-url.
 */
export function passkeyRoutes(rt: ApiContext) {
  const db = () => rt.database.db;
  const rp = () => passkeys.relyingParty(rt.config.http.publicUrl);
  const tags = ["auth"];
  // The schema is the wire shape of PublicKeyCredential.toJSON(); the library's types are the same shape.
  const reg = (r: unknown) => r as RegistrationResponseJSON;
  const assertion = (r: unknown) => r as AuthenticationResponseJSON;
  const json = async (o: Promise<object>) => (await o) as Record<string, unknown>;
  return new Elysia({ prefix: "/api/v1/auth", name: "passkeys" })
    .post(
      "/mfa/webauthn/options",
      async ({ body }) => {
        await limitSignIn(rt);
        return json(passkeys.signInAuthenticationOptions(db(), rp(), body.challenge));
      },
      {
        body: SignInChallengeBody,
        response: { 200: CeremonyOptions },
        detail: {
          tags,
          summary:
            "During a sign-in that needs a second factor: options for navigator.credentials.get with the user's passkeys (the challenge is kept server side for 5 minutes, once)",
        },
      },
    )
    .post(
      "/mfa/webauthn",
      async ({ body, set }) => {
        await limitSignIn(rt);
        const s = rt.config.security;
        const r = await passkeys.signInAuthentication(db(), rp(), body.challenge, assertion(body.response), wrongAnswerCounter(db(), s));
        return sessionBody(rt, set, await sessionAfterSecondFactor(db(), r, s));
      },
      {
        body: SignInAssertBody,
        response: { 200: LoginResponse },
        detail: {
          tags,
          summary: "Second step of a sign-in with a passkey: the assertion for the options' challenge; a bad or replayed one counts toward the lockout",
        },
      },
    )
    .post(
      "/mfa/webauthn/register/options",
      async ({ body }) => {
        await limitSignIn(rt);
        return json(passkeys.signInRegistrationOptions(db(), rp(), body.challenge));
      },
      {
        body: SignInChallengeBody,
        response: { 200: CeremonyOptions },
        detail: { tags, summary: "During a sign-in of a user with no second factor yet: options for navigator.credentials.create to enrol a passkey" },
      },
    )
    .post(
      "/mfa/webauthn/register",
      async ({ body, set }) => {
        await limitSignIn(rt);
        const r = await passkeys.signInRegistration(db(), rp(), body.challenge, reg(body.response), body.name);
        return sessionBody(
          rt,
          set,
          await sessionAfterSecondFactor(db(), { user: r.user, method: "webauthn", recoveryCodes: r.recoveryCodes }, rt.config.security),
        );
      },
      {
        body: SignInRegisterBody,
        response: { 200: LoginResponse },
        detail: { tags, summary: "Enrol the first passkey during a sign-in: returns the session and 10 recovery codes, shown once" },
      },
    )
    .use(requireUser(rt))
    .get("/passkeys", ({ user }) => passkeys.listPasskeys(db(), user.id), { response: { 200: t.Array(Passkey) }, detail: { tags, summary: "Your passkeys" } })
    .post("/passkeys/options", ({ user }) => json(passkeys.accountRegistrationOptions(db(), rp(), user)), {
      response: { 200: CeremonyOptions },
      detail: { tags, summary: "Options for navigator.credentials.create to add a passkey to your account (challenge kept 5 minutes, once)" },
    })
    .post(
      "/passkeys",
      async ({ user, body, set }) => {
        const r = await passkeys.accountRegistration(db(), rp(), user, reg(body.response), body.name);
        set.status = 201;
        return { passkey: r.passkey, ...(r.recoveryCodes ? { recovery_codes: r.recoveryCodes } : {}) };
      },
      {
        body: AccountRegisterBody,
        response: { 201: PasskeyAdded },
        detail: { tags, summary: "Add a passkey (the attestation for the options' challenge); your first second factor also returns 10 recovery codes once" },
      },
    )
    .delete(
      "/passkeys/:id",
      async ({ user, params, set }) => {
        await passkeys.removePasskey(db(), user, params.id, rt.config.security.mfaRequired);
        set.status = 204;
      },
      { params: IdParams, detail: { tags, summary: "Remove one of your passkeys; the last second factor of a role that needs one stays (409)" } },
    );
}
