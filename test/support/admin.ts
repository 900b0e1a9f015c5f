import { runCli } from "./rter-process.ts";

/** Creates a user through the CLI (as an operator would) and returns a session token from the API. */
export async function userToken(apiUrl: string, env: Record<string, string>, email: string, role: "admin" | "operator" | "reporter" | "viewer"): Promise<string> {
  const password = `pw-${crypto.randomUUID()}`;
  const add = await runCli(["users", "add", "--email", email, "--role", role, "--password", password], env);
  if (add.code !== 0) throw new Error(`users add failed: ${add.stderr}`);
  const res = await fetch(`${apiUrl}/api/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email, password }) });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
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
