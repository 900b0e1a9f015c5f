import { secondStep, type MfaChallenge } from "./mfa-step.ts";
import { offerProviderSignIn } from "./oidc.ts";

// fetch for the pages: same-origin cookie, JSON, the CSRF header every cookie-authenticated
// write needs, a timeout, and problem+json errors turned into ApiError.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

export const CSRF_HEADERS = { "x-requested-with": "rter" };

export async function request(path: string, init: RequestInit & { json?: unknown; timeoutMs?: number } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  for (const [k, v] of Object.entries(CSRF_HEADERS)) headers.set(k, v);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set("content-type", "application/json");
    body = JSON.stringify(init.json);
  }
  return fetch(path, { credentials: "same-origin", ...init, headers, body, signal: init.signal ?? AbortSignal.timeout(init.timeoutMs ?? 15_000) });
}

/** JSON in, JSON out; a non-2xx answer throws ApiError with the problem's detail. */
export async function api<T = any>(path: string, init: RequestInit & { json?: unknown; timeoutMs?: number } = {}): Promise<T> {
  const res = await request(path, init);
  if (!res.ok) throw await toError(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export async function toError(res: Response): Promise<ApiError> {
  const p = (await res.json().catch(() => null)) as { detail?: string; title?: string } | null;
  const ra = Number(res.headers.get("retry-after"));
  return new ApiError(res.status, p?.detail ?? p?.title ?? res.statusText, Number.isFinite(ra) && ra > 0 ? ra * 1000 : null);
}

export interface User {
  id: string;
  email: string;
  role: "admin" | "operator" | "reporter" | "viewer";
}

export async function me(): Promise<User | null> {
  const res = await request("/api/v1/auth/me");
  return res.status === 200 ? ((await res.json()) as User) : null;
}

/** Wires a sign-in form (fields email, password) to the login API; resolves with the user. */
export function signIn(form: HTMLFormElement, errorEl: HTMLElement): Promise<User> {
  void offerProviderSignIn(form);
  return new Promise((resolve) => {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const data = new FormData(form);
      errorEl.textContent = "";
      try {
        const r = await api<{ user: User } | MfaChallenge>("/api/v1/auth/login", {
          method: "POST",
          json: { email: data.get("email"), password: data.get("password") },
        });
        resolve("mfa_required" in r ? await secondStep(form, errorEl, r) : r.user);
      } catch (e) {
        errorEl.textContent = e instanceof ApiError ? e.message : "Cannot reach the server";
      }
    });
  });
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | null | undefined> = {},
  ...children: (Node | string | null | undefined | false)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") e.textContent = String(v);
    else if (k === "class") e.className = String(v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}
