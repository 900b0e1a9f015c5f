import { request } from "./api.ts";

// Sign-in through the organisation's OpenID Connect provider, when the server offers it: a link
// under the password form (the browser leaves for the provider and comes back signed in), and a
// sign-out that also ends the provider's session (RP-initiated logout) where there is one.

interface OidcInfo {
  enabled: boolean;
  name: string | null;
  start_url: string | null;
}

/** Adds "Sign in with NAME" under the form when OIDC is configured; the browser returns to this page. */
export async function offerProviderSignIn(form: HTMLFormElement): Promise<void> {
  const res = await request("/api/v1/auth/oidc").catch(() => null);
  if (!res?.ok) return;
  const info = (await res.json()) as OidcInfo;
  if (!info.enabled || !info.start_url || form.querySelector("a.oidc-signin")) return;
  const here = `${location.pathname}${location.search}`;
  const a = document.createElement("a");
  a.className = "oidc-signin";
  a.href = `${info.start_url}?return_to=${encodeURIComponent(here)}`;
  a.textContent = `Sign in with ${info.name ?? "your organisation"}`;
  const p = document.createElement("p");
  p.append(a);
  form.append(p);
}

/** Ends this session (and its provider session, if it came from one); then reloads or visits the provider's logout. */
export async function signOut(): Promise<void> {
  const res = await request("/api/v1/auth/oidc/logout", { method: "POST" }).catch(() => null);
  const body = res?.ok ? ((await res.json().catch(() => null)) as { end_session_url: string | null } | null) : null;
  if (!res?.ok) await request("/api/v1/auth/logout", { method: "POST" }).catch(() => {});
  if (body?.end_session_url) location.assign(body.end_session_url);
  else location.reload();
}
