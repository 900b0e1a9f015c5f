import { t } from "elysia";
import { BodyInt } from "../http/schema.ts";

export const LoginBody = t.Object(
  {
    /** An address, or with directory sign-in (--ldap-url) the directory username. */
    email: t.Optional(t.String({ minLength: 1, maxLength: 254 })),
    /** The directory username, for clients that keep it apart from the address (either field works). */
    username: t.Optional(t.String({ minLength: 1, maxLength: 254 })),
    password: t.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

export const UserModel = t.Object({
  id: t.String({ format: "uuid" }),
  email: t.String(),
  role: t.Union([t.Literal("admin"), t.Literal("operator"), t.Literal("reporter"), t.Literal("viewer")]),
});

export const LoginResponse = t.Object({ token: t.String(), user: UserModel, expires_at: t.String(), recovery_codes: t.Optional(t.Array(t.String())) });
/** 202 from login: the password was right, a second factor is needed before there is a session. */
export const MfaStep = t.Object({
  mfa_required: t.Literal(true),
  challenge: t.String(),
  enrolled: t.Boolean(),
  methods: t.Array(t.Union([t.Literal("totp"), t.Literal("webauthn"), t.Literal("recovery")])),
  expires_at: t.String(),
  user: UserModel,
});
export const MfaAnswerBody = t.Object(
  {
    challenge: t.String({ minLength: 1, maxLength: 100 }),
    code: t.Optional(t.String({ minLength: 1, maxLength: 12 })),
    recovery_code: t.Optional(t.String({ minLength: 1, maxLength: 40 })),
  },
  { additionalProperties: false },
);
export const MfaEnrolBody = t.Object({ challenge: t.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false });
export const MfaEnrolment = t.Object({ secret: t.String(), otpauth_uri: t.String() });

const RoleT = t.Union([t.Literal("admin"), t.Literal("operator"), t.Literal("reporter"), t.Literal("viewer")]);
/** Names and notes are free text, stored as given and always returned as JSON strings; control characters are refused. */
const Text = (maxLength: number) => t.String({ maxLength, pattern: "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$" });
export const IdParams = t.Object({ id: t.String({ format: "uuid" }) });
const Time = t.String({ format: "date-time" });
const MaybeTime = t.Union([Time, t.Null()]);

export const AdminUser = t.Object({
  id: t.String(),
  email: t.String(),
  role: RoleT,
  created_at: Time,
  disabled_at: MaybeTime,
  locked_until: MaybeTime,
  /** What the user signs in with after the password: an app (TOTP), how many passkeys. */
  second_factor: t.Object({ totp: t.Boolean(), passkeys: t.Integer() }),
});
export const UsersQuery = t.Object({ limit: t.Optional(t.Integer({ minimum: 1, maximum: 1000 })) });
export const CreateUserBody = t.Object(
  { email: t.String({ minLength: 3, maxLength: 254 }), role: RoleT, password: t.Optional(t.String({ minLength: 12, maxLength: 1024 })) },
  { additionalProperties: false },
);
export const CreatedUser = t.Object({ user: UserModel, password: t.Optional(t.String()) });
export const UpdateUserBody = t.Object({ role: t.Optional(RoleT), disabled: t.Optional(t.Boolean()) }, { additionalProperties: false });

export const TokenView = t.Object({
  id: t.String(),
  name: t.String(),
  user: t.Object({ id: t.String(), email: t.String(), role: RoleT }),
  role: RoleT,
  rate_limit_per_minute: t.Union([t.Number(), t.Null()]),
  created_at: Time,
  expires_at: MaybeTime,
  revoked_at: MaybeTime,
  last_used_at: MaybeTime,
});
export const TokensQuery = t.Object({
  user_id: t.Optional(t.String({ format: "uuid" })),
  include_revoked: t.Optional(t.Boolean()),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 1000 })),
});
export const CreateTokenBody = t.Object(
  {
    /** Whose token: by email or by user id (one of the two). */
    email: t.Optional(t.String({ minLength: 3, maxLength: 254 })),
    user_id: t.Optional(t.String({ format: "uuid" })),
    name: t.String({ minLength: 1, maxLength: 200, pattern: "^[^\\u0000-\\u001f\\u007f]+$" }),
    role: t.Optional(RoleT),
    /** Seconds until it expires; null = never. Default 90 days. */
    ttl_seconds: t.Optional(t.Union([BodyInt({ minimum: 60, maximum: 10 * 365 * 86_400 }), t.Null()])),
    rate_limit_per_minute: t.Optional(BodyInt({ minimum: 1, maximum: 1_000_000 })),
  },
  { additionalProperties: false },
);
export const CreatedToken = t.Object({ id: t.String(), token: t.String(), name: t.String(), role: RoleT, user: UserModel, expires_at: MaybeTime });

export const CreateInviteBody = t.Object(
  {
    role: t.Optional(t.Union([t.Literal("operator"), t.Literal("reporter"), t.Literal("viewer")])),
    /** Default 24 hours; at most 30 days. */
    ttl_seconds: t.Optional(BodyInt({ minimum: 60, maximum: 30 * 86_400 })),
    note: t.Optional(Text(500)),
  },
  { additionalProperties: false },
);
export const CreatedInvite = t.Object({ id: t.String(), token: t.String(), url: t.String(), role: t.String(), note: t.String(), expires_at: Time });
export const InviteView = t.Object({
  id: t.String(),
  role: t.String(),
  note: t.String(),
  state: t.Union([t.Literal("open"), t.Literal("used"), t.Literal("expired"), t.Literal("revoked")]),
  created_by: t.Union([t.String(), t.Null()]),
  created_at: Time,
  expires_at: Time,
  used_at: MaybeTime,
  used_by: t.Union([t.String(), t.Null()]),
  revoked_at: MaybeTime,
});
export const InvitesQuery = t.Object({
  state: t.Optional(t.Union([t.Literal("open"), t.Literal("all")])),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 1000 })),
});
export const AcceptInviteBody = t.Object({ token: t.String({ minLength: 10, maxLength: 200 }) }, { additionalProperties: false });

/** Self-service: the current password proves it is the user, not just someone at their unlocked screen. */
export const ChangePasswordBody = t.Object({ current: t.String({ maxLength: 1024 }), new: t.String({ maxLength: 1024 }) }, { additionalProperties: false });
export const PasswordChanged = t.Object({ sessions_ended: t.Integer() });
/** Admin reset: without `password` a random one is made and returned once. */
export const SetPasswordBody = t.Object({ password: t.Optional(t.String({ maxLength: 1024 })) }, { additionalProperties: false });
export const PasswordSet = t.Object({ user: UserModel, password: t.Optional(t.String()), sessions_ended: t.Integer() });
