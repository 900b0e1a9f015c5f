import { addUser, createToken } from "../../core/auth/auth.service.ts";
import type { TestApp } from "./app.ts";

export type RoleName = "admin" | "operator" | "reporter" | "viewer";

/** A signed-in cast for security tests: one user per role (two reporters), each with an API token. */
export interface Cast {
  tokens: Record<"admin" | "operator" | "reporter" | "reporter2" | "viewer", string>;
  ids: Record<"admin" | "operator" | "reporter" | "reporter2" | "viewer", string>;
  emails: Record<"admin" | "operator" | "reporter" | "reporter2" | "viewer", string>;
  password: string;
}

export async function makeCast(app: TestApp, domain = "city.example"): Promise<Cast> {
  const db = app.rt.database.db;
  const password = "correct horse battery staple";
  const roles: [keyof Cast["tokens"], RoleName][] = [
    ["admin", "admin"],
    ["operator", "operator"],
    ["reporter", "reporter"],
    ["reporter2", "reporter"],
    ["viewer", "viewer"],
  ];
  const cast = { tokens: {}, ids: {}, emails: {}, password } as Cast;
  for (const [name, role] of roles) {
    const email = `${name}@${domain}`;
    const { user } = await addUser(db, { email, role, password });
    cast.ids[name] = user.id;
    cast.emails[name] = email;
    cast.tokens[name] = (await createToken(db, { email, name: "test", ttlMs: 3_600_000 })).token;
  }
  return cast;
}

/** Adds each user (one password for all) with a one-hour API token; returns the tokens by email. */
export async function usersWithTokens(app: TestApp, users: readonly (readonly [email: string, role: RoleName])[]): Promise<Record<string, string>> {
  const db = app.rt.database.db;
  const tokens: Record<string, string> = {};
  for (const [email, role] of users) {
    await addUser(db, { email, role, password: "long enough pw" });
    tokens[email] = (await createToken(db, { email, name: "t", ttlMs: 3_600_000 })).token;
  }
  return tokens;
}

export const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

/** JSON request with a bearer token. */
export function call(
  app: TestApp,
  token: string | null,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return app.request(path, {
    method,
    headers: { ...(token ? bearer(token) : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
}

/** Bytes that pass the WebM sniff (EBML magic), enough to be stored as a chunk without a worker. */
export function fakeWebm(size = 4096, fill = 7): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(size).fill(fill);
  b.set([0x1a, 0x45, 0xdf, 0xa3]);
  return b;
}

export async function createStream(app: TestApp, token: string, title = "fixture"): Promise<string> {
  const res = await call(app, token, "POST", "/api/v1/streams", { title });
  if (res.status !== 201) throw new Error(`create stream: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

export async function putChunk(app: TestApp, token: string, streamId: string, seq: number, bytes = fakeWebm()): Promise<Response> {
  return app.request(`/api/v1/streams/${streamId}/chunks/${seq}`, { method: "PUT", headers: { ...bearer(token), "content-type": "video/webm" }, body: bytes });
}

/** Object keys stored under a prefix. */
export async function objectsUnder(app: TestApp, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of app.rt.store.list(prefix)) keys.push(o.key);
  return keys;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

/**
 * Rate limits count in fixed windows aligned to the clock (floor(epoch / window)). A test that must
 * see N requests land in one window starts right after a boundary when fewer than `needSeconds`
 * remain in the current one.
 */
export async function freshWindow(windowSeconds: number, needSeconds: number): Promise<void> {
  const into = (Date.now() / 1000) % windowSeconds;
  if (windowSeconds - into < needSeconds) await Bun.sleep((windowSeconds - into) * 1000 + 250);
}
