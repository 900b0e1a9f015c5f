import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { buildConfig } from "../config/load.ts";
import type { Database } from "../db/kysely.ts";
import { migratedDatabase, makeUsers, codeOf, STAFF } from "../../test/support/db.ts";
import { authenticate, type AuthUser } from "./auth.service.ts";
import { acceptInvite, createInvite, listInvites, revokeInvite } from "./invites.service.ts";

let database: Database;
let admin: AuthUser;
let op: AuthUser;
let reporter: AuthUser;
const settings = buildConfig({}, {}).security;
beforeAll(async () => {
  database = await migratedDatabase("invites-test");
  [admin, op, reporter] = await makeUsers(database, STAFF);
}, 60_000);
afterAll(() => database?.close());

const actions = async (id: string) =>
  (await sql<{ action: string }>`select action from audit_log where target_type = 'invite' and target_id = ${id} order by id`.execute(database.db)).rows.map(
    (r) => r.action,
  );

describe("invite links", () => {
  test("accepting creates an account of the invite's role and signs it in; the link works once", async () => {
    const inv = await createInvite(database.db, op, { role: "reporter", note: "  field team " });
    expect(inv).toMatchObject({ role: "reporter", note: "field team", url: `/join/${inv.token}` });
    const listed = (await listInvites(database.db, { openOnly: true, limit: 100 })).find((i) => i.id === inv.id);
    expect(listed).toMatchObject({ state: "open", created_by: op.email, used_by: null });

    const signed = await accepted(inv.token);
    expect(signed.user).toMatchObject({ email: `invite-${inv.id}@invite.local`, role: "reporter" });
    expect((await authenticate(database.db, signed.token, settings)).user.id).toBe(signed.user.id);

    expect(await codeOf(acceptInvite(database.db, inv.token, settings))).toBe("gone");
    const used = (await listInvites(database.db, { openOnly: false, limit: 100 })).find((i) => i.id === inv.id);
    expect(used).toMatchObject({ state: "used", used_by: signed.user.id });
    expect((await listInvites(database.db, { openOnly: true, limit: 100 })).some((i) => i.id === inv.id)).toBe(false);
    expect(await actions(inv.id)).toEqual(["invite.created", "invite.accepted", "invite.refused"]);
  });

  test("of two concurrent uses exactly one wins", async () => {
    const inv = await createInvite(database.db, op, {});
    const outcomes = await Promise.all([0, 1, 2].map(() => codeOf(acceptInvite(database.db, inv.token, settings))));
    expect(outcomes.sort()).toEqual(["gone", "gone", "ok"]);
    const { rows } = await sql<{ n: string }>`select count(*)::text as n from users where email = ${`invite-${inv.id}@invite.local`}`.execute(database.db);
    expect(rows[0]!.n).toBe("1");
  });

  test("expired and revoked links are gone; tokens that never existed or are malformed are unauthorized", async () => {
    const expired = await createInvite(database.db, op, { ttl_seconds: 60 });
    await sql`update invites set expires_at = now() - interval '1 second' where id = ${expired.id}`.execute(database.db);
    expect(await codeOf(acceptInvite(database.db, expired.token, settings))).toBe("gone");
    const revoked = await createInvite(database.db, op, {});
    await revokeInvite(database.db, op, revoked.id);
    expect(await codeOf(acceptInvite(database.db, revoked.token, settings))).toBe("gone");
    expect((await listInvites(database.db, { openOnly: false, limit: 100 })).find((i) => i.id === revoked.id)?.state).toBe("revoked");
    expect(await codeOf(acceptInvite(database.db, `inv_${"A".repeat(43)}`, settings))).toBe("unauthorized");
    expect(await codeOf(acceptInvite(database.db, "inv_short", settings))).toBe("unauthorized");
    expect(await codeOf(revokeInvite(database.db, op, "00000000-0000-4000-8000-000000000000"))).toBe("not_found");
  });

  test("revoking a used invite signs its account out and disables it", async () => {
    const inv = await createInvite(database.db, admin, { role: "viewer" });
    const signed = await accepted(inv.token);
    await revokeInvite(database.db, admin, inv.id);
    expect(await codeOf(authenticate(database.db, signed.token, settings))).toBe("unauthorized");
    const { rows } = await sql<{ disabled: boolean }>`select disabled_at is not null as disabled from users where id = ${signed.user.id}`.execute(database.db);
    expect(rows[0]!.disabled).toBe(true);
    expect((await actions(inv.id)).at(-1)).toBe("invite.revoked");
    // Revoking again is harmless.
    await revokeInvite(database.db, admin, inv.id);
  });

  test("who may invite whom", async () => {
    expect(await codeOf(createInvite(database.db, op, { role: "operator" }))).toBe("forbidden");
    expect((await createInvite(database.db, admin, { role: "operator" })).role).toBe("operator");
    expect(await codeOf(createInvite(database.db, reporter, { role: "viewer" }))).toBe("forbidden");
  });
});

async function accepted(token: string) {
  return acceptInvite(database.db, token, settings);
}
