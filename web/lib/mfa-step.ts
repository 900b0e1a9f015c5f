// The second step of a sign-in (--mfa-required): after the password the server answers 202 with a
// challenge; this shows the enrolment key when the user has none yet, asks for the code from the
// authenticator app (or a recovery code), and shows fresh recovery codes once.

import { api, ApiError, el, type User } from "./api.ts";

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
  if (!step.enrolled) {
    const { secret, otpauth_uri } = await api<{ secret: string; otpauth_uri: string }>("/api/v1/auth/mfa/totp/enrol", { method: "POST", json: { challenge: step.challenge } });
    box.append(
      el("p", { text: "Your role needs a second factor. Add this key to your authenticator app, then enter the code it shows:" }),
      el("code", { id: "mfa-secret", text: secret }),
      el("p", {}, el("a", { href: otpauth_uri, id: "mfa-uri", text: "Open in authenticator app" })),
    );
  }
  const input = el("input", { id: "mfa-code", name: "code", autocomplete: "one-time-code", inputmode: "numeric", required: true, maxlength: 40 });
  box.append(el("label", { for: "mfa-code", text: "Authentication code (or a recovery code)" }), input, el("button", { type: "submit", text: "Verify" }));
  input.focus();
  // The listener goes with the answer: the recovery-code screen reuses this form's submit.
  const answered = new AbortController();
  const signed = await new Promise<SignedIn>((resolve) => {
    box.addEventListener("submit", async (ev) => {
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
    }, { signal: answered.signal });
  });
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
