import { Elysia } from "elysia";
import type { Kysely } from "kysely";
import { AppError } from "../errors.ts";
import type { DB } from "../db/schema.ts";
import type { Runtime } from "../runtime.ts";
import { LoginBody, LoginResponse, UserModel } from "./auth.model.ts";
import { authenticate, login, SESSION_TTL_MS, type AuthUser } from "./auth.service.ts";
import { hashToken } from "./token.ts";

export const SESSION_COOKIE = "rter_session";

/** Bearer header first (API clients); the HttpOnly cookie second (the web UI). */
export function credentialsFrom(request: Request): string | null {
  const h = request.headers.get("authorization");
  if (h) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m) throw new AppError("unauthorized", "Authorization header must be 'Bearer <token>'");
    return m[1]!;
  }
  const cookie = request.headers.get("cookie");
  const m = cookie ? new RegExp(`(?:^|;\\s*)${SESSION_COOKIE}=([^;]+)`).exec(cookie) : null;
  return m ? m[1]! : null;
}

/** Scoped guard: every route of a plugin that `.use`s this gets `user` or answers 401. */
export function requireUser(db: () => Kysely<DB>) {
  return new Elysia({ name: "require-user" }).resolve({ as: "scoped" }, async ({ request }): Promise<{ user: AuthUser }> => ({
    user: await authenticate(db(), credentialsFrom(request)),
  }));
}

export function requireRole(user: AuthUser, ...roles: AuthUser["role"][]): void {
  if (!roles.includes(user.role)) throw new AppError("forbidden", `this needs the ${roles.join(" or ")} role`);
}

export function authRoutes(rt: Runtime) {
  const db = () => rt.database!.db;
  const secure = rt.config.http.publicUrl.startsWith("https:");
  return new Elysia({ prefix: "/api/v1/auth", name: "auth" })
    .post(
      "/login",
      async ({ body, set }) => {
        const { token, user, expiresAt } = await login(db(), body.email, body.password);
        set.headers["set-cookie"] = `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}${secure ? "; Secure" : ""}`;
        return { token, user, expires_at: expiresAt.toISOString() };
      },
      { body: LoginBody, response: { 200: LoginResponse }, detail: { tags: ["auth"], summary: "Exchange email and password for a session token (also set as an HttpOnly cookie)" } },
    )
    .use(requireUser(db))
    .get("/me", ({ user }) => user, { response: { 200: UserModel }, detail: { tags: ["auth"], summary: "The signed-in user" } })
    .post(
      "/logout",
      async ({ request, set }) => {
        const token = credentialsFrom(request)!;
        await db().updateTable("api_tokens").set({ revoked_at: new Date() }).where("token_hash", "=", hashToken(token)).where("kind", "=", "session").execute();
        set.headers["set-cookie"] = `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
        set.status = 204;
      },
      { detail: { tags: ["auth"], summary: "End this session" } },
    );
}
