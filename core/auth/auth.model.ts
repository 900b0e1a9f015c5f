import { t } from "elysia";

export const LoginBody = t.Object(
  {
    email: t.String({ minLength: 3, maxLength: 254 }),
    password: t.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

export const UserModel = t.Object({
  id: t.String({ format: "uuid" }),
  email: t.String(),
  role: t.Union([t.Literal("admin"), t.Literal("operator"), t.Literal("reporter"), t.Literal("viewer")]),
});

export const LoginResponse = t.Object({ token: t.String(), user: UserModel, expires_at: t.String() });
