import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { buildConfig } from "../config/load.ts";
import type { Database } from "../db/kysely.ts";
import { migratedDatabase, codeOf } from "../../test/support/db.ts";
import { issueToken, listUsers, revokeApiToken, updateUser, createUser } from "./admin.service.ts";
import { authenticate, type AuthUser } from "./auth.service.ts";

// Every created user's password is hashed with argon2id: slow on a busy machine.
setDefaultTimeout(60_000);

let database: Database;
const settings = buildConfig({}, {}).security;
beforeAll(async () => {
  database = await migratedDatabase("admin-test");
}, 60_000);
afterAll(() => database?.close());

const user = async (email: string, role: AuthUser["role"]) => (await createUser(database.db, { email, role })).user;

describe("managing users", () => {
  test("a role change or disabling ends the user's tokens; enabling again does not bring them back", async () => {
    const admin = await user("boss@city.example", "admin");
    const op = await user("op@city.example", "operator");
    const t = await issueToken(database.db, admin, { email: op.email, name: "ci" });
    expect((await authenticate(database.db, t.token, settings)).user.role).toBe("operator");
    expect(await updateUser(database.db, op.id, { role: "viewer" })).toEqual({ id: op.id, email: op.email, role: "viewer" });
    expect(await codeOf(authenticate(database.db, t.token, settings))).toBe("unauthorized");

    const t2 = await issueToken(database.db, admin, { user_id: op.id, name: "second" });
    await updateUser(database.db, op.id, { disabled: true });
    expect((await listUsers(database.db, 100)).find((u) => u.id === op.id)?.disabled_at).not.toBeNull();
    await updateUser(database.db, op.id, { disabled: false });
    expect((await listUsers(database.db, 100)).find((u) => u.id === op.id)?.disabled_at).toBeNull();
    expect(await codeOf(authenticate(database.db, t2.token, settings))).toBe("unauthorized");
    // No change asked: nothing happens.
    expect(await updateUser(database.db, op.id, { role: "viewer", disabled: false })).toEqual({ id: op.id, email: op.email, role: "viewer" });
    expect(await codeOf(updateUser(database.db, "00000000-0000-4000-8000-000000000000", { role: "viewer" }))).toBe("not_found");
  });

  test("the last active admin can be neither demoted nor disabled, even by two concurrent changes", async () => {
    const [a] = (await listUsers(database.db, 100)).filter((u) => u.role === "admin");
    expect(await codeOf(updateUser(database.db, a!.id, { role: "operator" }))).toBe("conflict");
    expect(await codeOf(updateUser(database.db, a!.id, { disabled: true }))).toBe("conflict");
    const b = await user("second-boss@city.example", "admin");
    // Two admins, each demoting the other at the same time: one must stay.
    const outcomes = await Promise.all([
      codeOf(updateUser(database.db, a!.id, { role: "operator" })),
      codeOf(updateUser(database.db, b.id, { disabled: true })),
    ]);
    expect(outcomes.sort()).toEqual(["conflict", "ok"]);
    const active = (await listUsers(database.db, 100)).filter((u) => u.role === "admin" && u.disabled_at === null);
    expect(active).toHaveLength(1);
  });

  test("API tokens: revoked ones stop working; only API tokens can be revoked here", async () => {
    const admin = (await listUsers(database.db, 100)).find((u) => u.role === "admin" && u.disabled_at === null)!;
    const t = await issueToken(database.db, { id: admin.id, email: admin.email, role: "admin" }, { email: admin.email, name: "short", ttl_seconds: 60 });
    await revokeApiToken(database.db, t.id);
    expect(await codeOf(authenticate(database.db, t.token, settings))).toBe("unauthorized");
    expect(await codeOf(revokeApiToken(database.db, "00000000-0000-4000-8000-000000000000"))).toBe("not_found");
    expect(await codeOf(issueToken(database.db, { id: admin.id, email: admin.email, role: "admin" }, { name: "x" }))).toBe("bad_request");
  });
});
