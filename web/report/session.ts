// Who is using the reporter page: an invite link, the session cookie, or the sign-in form.

import { api, ApiError, request, type User } from "../lib/api.ts";

const $ = <T extends HTMLElement = HTMLElement>(sel: string) => document.querySelector(sel) as T;

export function showLogin(message?: string): void {
  $("#login").hidden = false;
  if (message) $("#login-error").textContent = message;
}

export async function acceptInvite(token: string): Promise<User | null> {
  const status = $("#join-status");
  status.hidden = false;
  status.textContent = "Opening your invite…";
  try {
    const r = await api<{ user: User }>("/api/v1/invites/accept", { method: "POST", json: { token } });
    status.hidden = true;
    return r.user;
  } catch (e) {
    status.textContent =
      e instanceof ApiError && e.status < 500
        ? "This invite link is not valid any more. Ask the control room for a new one, or sign in."
        : "Cannot reach the server to open the invite; try again in a moment.";
    return null;
  }
}

/**
 * Who is signed in, by the session cookie. Offline (the page reloaded in a tunnel), the answer
 * waits for the network instead of asking for a password: the outbox stays on the phone and is
 * sent once the server answers. Only a definite "no" (401) shows the sign-in form.
 */
export async function whoAmI(keptChunks: () => Promise<number>): Promise<User | null> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await request("/api/v1/auth/me", { timeoutMs: 10_000 });
      if (res.status === 200) return (await res.json()) as User;
      if (res.status === 401) return null;
    } catch {
      // Offline or unreachable: ask again below.
    }
    const queued = await keptChunks();
    const status = $("#join-status");
    status.hidden = false;
    status.textContent = `Offline: ${queued} recorded chunk${queued === 1 ? "" : "s"} kept on this phone, sent as soon as the network is back.`;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        window.removeEventListener("online", done);
        resolve();
      };
      const t = setTimeout(done, Math.min(10_000, 1000 * 2 ** Math.min(attempt, 4)));
      window.addEventListener("online", done);
    });
  }
}
