import { generate } from "otplib";
import { runCli } from "./rter-process.ts";

/** Creates a user through the CLI (as an operator would) and returns a session token from the API (second factor included). */
export async function userToken(
  apiUrl: string,
  env: Record<string, string>,
  email: string,
  role: "admin" | "operator" | "reporter" | "viewer",
): Promise<string> {
  const password = `pw-${crypto.randomUUID()}`;
  const add = await runCli(["users", "add", "--email", email, "--role", role, "--password", password], env);
  if (add.code !== 0) throw new Error(`users add failed: ${add.stderr}`);
  return (await signIn(apiUrl, { email, password })).token;
}

/** The TOTP secrets this test process enrolled, by email, and the last time step it used for each. */
const enrolled = new Map<string, { secret: string; lastStep: number }>();

export interface SignedIn {
  token: string;
  /** Set when this sign-in enrolled TOTP (the first challenged sign-in of the account). */
  secret?: string;
  recoveryCodes?: string[];
}

/**
 * Signs in through the real API as a person would, second factor included: a 202 (--mfa-required,
 * admins by default) is answered with a TOTP code (otplib), enrolling on the way when the account
 * has none yet. `init` adds fetch options (e.g. `tls` for a self-signed load balancer).
 */
export async function signIn(apiUrl: string, who: { email: string; password: string }, init: Record<string, unknown> = {}): Promise<SignedIn> {
  const post = (path: string, body: unknown) =>
    fetch(`${apiUrl}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), ...init } as RequestInit);
  const res = await post("/api/v1/auth/login", who);
  if (res.status === 200) return { token: ((await res.json()) as { token: string }).token };
  if (res.status !== 202) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  const step = (await res.json()) as { challenge: string; enrolled: boolean };
  let secret = enrolled.get(who.email)?.secret;
  let fresh = false;
  if (!step.enrolled) {
    const e = await post("/api/v1/auth/mfa/totp/enrol", { challenge: step.challenge });
    if (e.status !== 200) throw new Error(`TOTP enrolment failed: ${e.status} ${await e.text()}`);
    secret = ((await e.json()) as { secret: string }).secret;
    fresh = true;
  }
  if (!secret) throw new Error(`${who.email} has a second factor this test process did not enrol`);
  const code = await totpCode(who.email, secret);
  const done = await post("/api/v1/auth/mfa", { challenge: step.challenge, code });
  if (done.status !== 200) throw new Error(`second factor refused: ${done.status} ${await done.text()}`);
  const body = (await done.json()) as { token: string; recovery_codes?: string[] };
  return { token: body.token, ...(fresh ? { secret } : {}), ...(body.recovery_codes ? { recoveryCodes: body.recovery_codes } : {}) };
}

/**
 * A code for a time step later than any this process used for the account (a code works once,
 * RFC 6238): the current step, else the next (inside the server's ±30 s window), else it waits
 * for the clock (bounded: at most one step).
 */
async function totpCode(email: string, secret: string): Promise<string> {
  const prev = enrolled.get(email)?.lastStep ?? -1;
  for (let i = 0; i < 3; i++) {
    const now = Math.floor(Date.now() / 30_000);
    for (const step of [now, now + 1]) {
      if (step > prev) {
        enrolled.set(email, { secret, lastStep: step });
        return generate({ secret, epoch: step * 30 });
      }
    }
    await Bun.sleep(30_000 - (Date.now() % 30_000) + 50);
  }
  throw new Error("no fresh TOTP step");
}

/** fetch with a bearer token and JSON body. */
export function api(base: string, token: string | null) {
  return (path: string, init: { method?: string; body?: unknown } = {}) =>
    fetch(`${base}${path}`, {
      method: init.method ?? "GET",
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.body !== undefined ? { "content-type": "application/json" } : {}) },
      body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
    });
}

/**
 * A request as the holder of `token`: a Uint8Array body goes as it is, anything else as JSON. The
 * answer's status and its JSON body (null when empty).
 */
export async function apiCall(
  base: string,
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
  init: { headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...init.headers };
  const req: RequestInit = { method, headers };
  if (init.signal) req.signal = init.signal;
  if (body instanceof Uint8Array) req.body = body as unknown as BodyInit;
  else if (body !== undefined) {
    req.body = JSON.stringify(body);
    headers["content-type"] = "application/json";
  }
  const r = await fetch(`${base}${path}`, req);
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/**
 * Polls `fn` every 100 ms until it returns something truthy. `what` names the wait in the timeout
 * error; as a function it is called only then, so it can report the last state `fn` saw.
 */
export async function until<T>(what: string | (() => string), fn: () => Promise<T | null | undefined | false>, ms = 30_000): Promise<T> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    const v = await fn();
    if (v) return v;
    await Bun.sleep(100);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${typeof what === "function" ? what() : what}`);
}

/** until, where a throw from `fn` counts as "not yet": a page mid-navigation, a node not answering yet. */
export function untilOk<T>(what: string | (() => string), fn: () => Promise<T | null | undefined | false>, ms = 30_000): Promise<T> {
  return until(what, () => fn().catch(() => null), ms);
}
