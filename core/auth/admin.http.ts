import { Elysia, t } from "elysia";
import type { ApiContext } from "../runtime.ts";
import * as admin from "./admin.service.ts";
import { limitSignIn, requireUser, sessionCookie } from "./auth.http.ts";
import {
  AcceptInviteBody,
  AdminUser,
  CreatedInvite,
  CreatedToken,
  CreatedUser,
  CreateInviteBody,
  CreateTokenBody,
  CreateUserBody,
  IdParams,
  InvitesQuery,
  InviteView,
  LoginResponse,
  PasswordSet,
  SetPasswordBody,
  TokensQuery,
  TokenView,
  UpdateUserBody,
  UserModel,
  UsersQuery,
} from "./auth.model.ts";
import { requireRole, requireStaff } from "./guards.ts";
import { acceptInvite, createInvite, listInvites, revokeInvite } from "./invites.service.ts";
import { resetPassword } from "./password.service.ts";
import { resetMfa } from "./mfa/mfa.service.ts";

/** Users and API tokens (admins). Who may call what is in access-matrix.ts; the checks here repeat it for defence in depth. */
export function adminAuthRoutes(rt: ApiContext) {
  const db = () => rt.database.db;
  const tags = ["admin"];
  return new Elysia({ prefix: "/api/v1/admin", name: "admin-auth" })
    .use(requireUser(rt))
    .get(
      "/users",
      ({ user, query }) => {
        requireRole(user, "admin");
        return admin.listUsers(db(), query.limit ?? 500);
      },
      { query: UsersQuery, response: { 200: t.Array(AdminUser) }, detail: { tags, summary: "Users, with disabled and locked state" } },
    )
    .post(
      "/users",
      async ({ user, body, set }) => {
        requireRole(user, "admin");
        set.status = 201;
        return admin.createUser(db(), body);
      },
      {
        body: CreateUserBody,
        response: { 201: CreatedUser },
        detail: { tags, summary: "Create a user (a generated password is returned once when none is given)" },
      },
    )
    .patch(
      "/users/:id",
      ({ user, params, body }) => {
        requireRole(user, "admin");
        return admin.updateUser(db(), params.id, body);
      },
      {
        params: IdParams,
        body: UpdateUserBody,
        response: { 200: UserModel },
        detail: { tags, summary: "Change a user's role or disable them; either ends all their sessions and tokens" },
      },
    )
    .post(
      "/users/:id/unlock",
      ({ user, params }) => {
        requireRole(user, "admin");
        return admin.unlockUser(db(), { id: params.id });
      },
      { params: IdParams, response: { 200: UserModel }, detail: { tags, summary: "Lift a sign-in lockout" } },
    )
    .delete(
      "/users/:id/mfa",
      async ({ user, params, set }) => {
        requireRole(user, "admin");
        await resetMfa(db(), params.id);
        set.status = 204;
      },
      {
        params: IdParams,
        detail: {
          tags,
          summary: "Reset a user's second factor (TOTP and recovery codes): they enrol again at their next sign-in; their sessions end. Audited as mfa.reset",
        },
      },
    )
    .post(
      "/users/:id/password",
      async ({ user, params, body }) => {
        requireRole(user, "admin");
        const r = await resetPassword(db(), { id: params.id }, body.password, "admin");
        return { user: r.user, ...(r.password !== undefined ? { password: r.password } : {}), sessions_ended: r.sessionsEnded };
      },
      {
        params: IdParams,
        body: SetPasswordBody,
        response: { 200: PasswordSet },
        detail: { tags, summary: "Set a user's password (a generated one is returned once when none is given); ends all their sessions" },
      },
    )
    .get(
      "/tokens",
      ({ user, query }) => {
        requireRole(user, "admin");
        return admin.listTokens(db(), { userId: query.user_id, includeRevoked: query.include_revoked ?? false, limit: query.limit ?? 500 });
      },
      { query: TokensQuery, response: { 200: t.Array(TokenView) }, detail: { tags, summary: "API tokens (never their secrets), newest first" } },
    )
    .post(
      "/tokens",
      async ({ user, body, set }) => {
        requireRole(user, "admin");
        set.status = 201;
        return admin.issueToken(db(), user, body);
      },
      {
        body: CreateTokenBody,
        response: { 201: CreatedToken },
        detail: { tags, summary: "Create an API token (shown once); role at most the user's; default expiry 90 days" },
      },
    )
    .delete(
      "/tokens/:id",
      async ({ user, params, set }) => {
        requireRole(user, "admin");
        await admin.revokeApiToken(db(), params.id);
        set.status = 204;
      },
      { params: IdParams, detail: { tags, summary: "Revoke an API token" } },
    );
}

/** Invite links: created and revoked by staff, accepted by anyone holding one. */
export function inviteRoutes(rt: ApiContext) {
  const db = () => rt.database.db;
  const tags = ["invites"];
  return new Elysia({ prefix: "/api/v1/invites", name: "invites" })
    .post(
      "/accept",
      async ({ body, set }) => {
        await limitSignIn(rt);
        const { token, user, expiresAt } = await acceptInvite(db(), body.token, rt.config.security);
        set.headers["set-cookie"] = sessionCookie(rt, token);
        return { token, user, expires_at: expiresAt.toISOString() };
      },
      {
        body: AcceptInviteBody,
        response: { 200: LoginResponse },
        detail: { tags, summary: "Use an invite link: creates its account and signs it in like a login; 410 when used, expired or revoked" },
      },
    )
    .use(requireUser(rt))
    .post(
      "/",
      async ({ user, body, set }) => {
        requireStaff(user);
        set.status = 201;
        return createInvite(db(), user, body);
      },
      { body: CreateInviteBody, response: { 201: CreatedInvite }, detail: { tags, summary: "Create a one-time invite link (reporter by default, 24 h)" } },
    )
    .get(
      "/",
      ({ user, query }) => {
        requireStaff(user);
        return listInvites(db(), { openOnly: query.state === "open", limit: query.limit ?? 200 });
      },
      { query: InvitesQuery, response: { 200: t.Array(InviteView) }, detail: { tags, summary: "Invites, newest first (never their tokens)" } },
    )
    .delete(
      "/:id",
      async ({ user, params, set }) => {
        requireStaff(user);
        await revokeInvite(db(), user, params.id);
        set.status = 204;
      },
      { params: IdParams, detail: { tags, summary: "Revoke an invite; if it was used, its account is signed out and disabled" } },
    );
}
