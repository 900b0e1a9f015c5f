// The second step of a sign-in (--mfa-required): after the password the server answers 202 with a
// challenge; this shows the enrolment key when the user has none yet, asks for the code from the
// authenticator app (or a recovery code), offers the passkey (use it, or enrol one instead of the
// app), and shows fresh recovery codes once.

import { api, ApiError, el, type User } from "./api.ts";
import { createPasskey, getPasskey, passkeysSupported } from "./webauthn.ts";

export interface MfaChallenge {
  mfa_required: true;
  challenge: string;
  enrolled: boolean;
  methods: string[];
  user: User;
}

interface SignedIn {
  user: User;
  recovery_codes?: string[];
}

/** Replaces the password form with the code form; resolves once a session exists. */
export async function secondStep(loginForm: HTMLFormElement, errorEl: HTMLElement, step: MfaChallenge): Promise<User> {
  loginForm.hidden = true;
  const box = el("form", { id: "mfa", "aria-label": "Second factor" });
  loginForm.after(box);
  const usePasskey = step.enrolled && step.methods.includes("webauthn");
  const hasTotp = !step.enrolled || step.methods.includes("totp");
  if (!step.enrolled) {
    const { secret, otpauth_uri } = await api<{ secret: string; otpauth_uri: string }>("/api/v1/auth/mfa/totp/enrol", {
      method: "POST",
      json: { challenge: step.challenge },
    });
    box.append(
      el("p", { text: "Your role needs a second factor. Add this key to your authenticator app, then enter the code it shows:" }),
      el("code", { id: "mfa-secret", text: secret }),
      el("p", {}, el("a", { href: otpauth_uri, id: "mfa-uri", text: "Open in authenticator app" })),
    );
  }
  const passkeyButton =
    passkeysSupported() && (usePasskey || !step.enrolled)
      ? el("button", {
          type: "button",
          id: usePasskey ? "mfa-passkey" : "mfa-passkey-enrol",
          text: usePasskey ? "Use your passkey" : "Use a passkey instead of an app",
        })
      : null;
  if (passkeyButton) box.append(el("p", {}, passkeyButton));
  const input = el("input", { id: "mfa-code", name: "code", autocomplete: "one-time-code", inputmode: "numeric", required: true, maxlength: 40 });
  box.append(
    el("label", { for: "mfa-code", text: hasTotp ? "Authentication code (or a recovery code)" : "Or a recovery code" }),
    input,
    el("button", { type: "submit", text: "Verify" }),
  );
  // The error line moves with the step: the password form (its home) is hidden now.
  box.append(errorEl);
  (usePasskey ? passkeyButton! : input).focus();
  // The listener goes with the answer: the recovery-code screen reuses this form's submit.
  const answered = new AbortController();
  const signed = await new Promise<SignedIn>((resolve) => {
    passkeyButton?.addEventListener(
      "click",
      async () => {
        errorEl.textContent = "";
        try {
          if (usePasskey) {
            const options = await api<Record<string, unknown>>("/api/v1/auth/mfa/webauthn/options", { method: "POST", json: { challenge: step.challenge } });
            const response = await getPasskey(options);
            resolve(await api<SignedIn>("/api/v1/auth/mfa/webauthn", { method: "POST", json: { challenge: step.challenge, response } }));
          } else {
            const options = await api<Record<string, unknown>>("/api/v1/auth/mfa/webauthn/register/options", {
              method: "POST",
              json: { challenge: step.challenge },
            });
            const response = await createPasskey(options);
            resolve(await api<SignedIn>("/api/v1/auth/mfa/webauthn/register", { method: "POST", json: { challenge: step.challenge, response } }));
          }
          answered.abort();
        } catch (e) {
          errorEl.textContent = e instanceof ApiError ? e.message : e instanceof Error ? `Passkey: ${e.message}` : "Cannot reach the server";
        }
      },
      { signal: answered.signal },
    );
    box.addEventListener(
      "submit",
      async (ev) => {
        ev.preventDefault();
        errorEl.textContent = "";
        const v = input.value.trim();
        const answer = /^\d{6}$/.test(v) ? { code: v } : { recovery_code: v };
        try {
          resolve(await api<SignedIn>("/api/v1/auth/mfa", { method: "POST", json: { challenge: step.challenge, ...answer } }));
          answered.abort();
        } catch (e) {
          errorEl.textContent = e instanceof ApiError ? e.message : "Cannot reach the server";
        }
      },
      { signal: answered.signal },
    );
  });
  loginForm.append(errorEl);
  if (signed.recovery_codes) await showRecoveryCodes(box, signed.recovery_codes);
  box.remove();
  return signed.user;
}

function showRecoveryCodes(box: HTMLFormElement, codes: string[]): Promise<void> {
  box.replaceChildren(
    el("p", { text: "Recovery codes — each works once if you lose your authenticator. Keep them somewhere safe; they are not shown again." }),
    el("ol", { id: "mfa-recovery" }, ...codes.map((c) => el("li", { text: c }))),
    el("button", { type: "submit", text: "Continue" }),
  );
  return new Promise((resolve) => box.addEventListener("submit", (ev) => (ev.preventDefault(), resolve()), { once: true }));
}
