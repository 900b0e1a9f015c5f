import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Attribute, Change, Client } from "ldapts";
import { findUser, inChainFilter, isMemberInChain } from "../../core/auth/directory/ldap.ts";
import { buildLdapConfig, type LdapConfig } from "../../core/config/ldap.ts";
import { until } from "../support/admin.ts";
import { json, startTestApp, type TestApp } from "../support/app.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { slapdInstalled, startSlapd, type TestSlapd } from "../support/slapd.ts";

// Groups inside groups, against a real OpenLDAP slapd (which has no LDAP_MATCHING_RULE_IN_CHAIN):
// --ldap-nested-groups walk through two levels, through a cycle, cut at the depth and count
// limits, followed again at the re-check; in-chain refused clearly on a directory that is not
// Active Directory (slapd would answer its filter with silence, not an error).

if (!slapdInstalled()) throw new Error("slapd is missing: run bash scripts/ensure-tools.sh --ldap");

let slapd: TestSlapd;
let app: TestApp;
const G = (cn: string) => `cn=${cn},ou=groups,${slapd.suffix}`;
const P = (uid: string) => `uid=${uid},ou=people,${slapd.suffix}`;
const pw = (uid: string) => `${uid}-pass-1`;
const walkSettings = () => ({
  ...slapd.settings,
  "ldap-nested-groups": "walk",
  "ldap-group-base": `ou=groups,${slapd.suffix}`,
  "ldap-nested-depth": "4",
});
const cfgOf = (extra: Record<string, string>): LdapConfig => {
  const s: Record<string, string> = { ...walkSettings(), ...extra };
  return buildLdapConfig((f) => s[f])!;
};

async function member(c: Client, group: string, dn: string, op: "add" | "delete" = "add") {
  await c.modify(group, new Change({ operation: op, modification: new Attribute({ type: "member", values: [dn] }) }));
}

beforeAll(async () => {
  slapd = await startSlapd();
  await slapd.admin(async (c) => {
    for (const uid of ["nina", "cyril", "deena", "mona"]) {
      await c.add(P(uid), { objectClass: "inetOrgPerson", uid, cn: uid, sn: uid, mail: `${uid}@city.test`, userPassword: pw(uid) });
    }
    const group = (cn: string, members: string[]) => c.add(G(cn), { objectClass: "groupOfNames", cn, member: members });
    // nina: Dispatch → EOC-Operators (two levels).
    await group("Dispatch", [P("nina")]);
    await member(c, slapd.groups.operators, G("Dispatch"));
    // cyril: Cycle-1 ⇄ Cycle-2 → EOC-Viewers (a cycle on the way).
    await group("Cycle-1", [P("cyril")]);
    await group("Cycle-2", [G("Cycle-1")]);
    await member(c, G("Cycle-1"), G("Cycle-2"));
    await member(c, slapd.groups.viewers, G("Cycle-2"));
    // deena: D1 → D2 → D3 → D4 → EOC-Admins, five levels (the app allows four).
    await group("D1", [P("deena")]);
    for (let i = 2; i <= 4; i++) await group(`D${i}`, [G(`D${i - 1}`)]);
    await member(c, slapd.groups.admins, G("D4"));
    // mona: thirty groups of her own, the last of them in EOC-Viewers.
    for (let i = 0; i < 30; i++) await group(`Many-${i}`, [P("mona")]);
    await member(c, slapd.groups.viewers, G("Many-29"));
  });
  app = await startTestApp({ roles: "api", "database-url": await testDatabaseUrl(), ...walkSettings(), "ldap-cache": "1s", "rate-limit-login": "100000/1m" });
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await slapd?.close();
});

const signIn = (uid: string, on = app) => on.request("/api/v1/auth/login", json({ username: uid, password: pw(uid) }));
async function auditOf(action: string): Promise<Array<{ detail: Record<string, unknown> }>> {
  const rows = await app.rt.database.db.selectFrom("audit_log").select(["detail"]).where("action", "=", action).orderBy("seq").execute();
  return rows as Array<{ detail: Record<string, unknown> }>;
}

describe("LDAP nested groups", () => {
  test("walk: a group inside a mapped group gives its role, through a cycle too; direct members are unchanged; direct mode does not see it", async () => {
    const nina = await signIn("nina");
    expect(nina.status).toBe(200);
    expect(((await nina.json()) as { user: { role: string } }).user.role).toBe("operator");
    const cyril = await signIn("cyril");
    expect(cyril.status).toBe(200);
    expect(((await cyril.json()) as { user: { role: string } }).user.role).toBe("viewer");
    const alice = await signIn("alice");
    expect(((await alice.json()) as { user: { role: string } }).user.role).toBe("operator");
    // The cycle ends because a group is visited once, not because of a limit: with depth 32 the walk still finishes.
    const deep = await findUser(cfgOf({ "ldap-nested-depth": "32" }), "cyril");
    expect(deep).toMatchObject({ groups: [slapd.groups.viewers], walkStopped: null });
    // The same people under --ldap-nested-groups direct: only their own groups count.
    const direct = cfgOf({ "ldap-nested-groups": "direct" });
    expect(direct.nested.groupBase).toBeNull();
    expect((await findUser(direct, "nina"))!.groups).toEqual([]);
    expect((await findUser(direct, "cyril"))!.groups).toEqual([]);
    expect((await findUser(direct, "alice"))!.groups).toEqual([slapd.groups.operators]);
  });

  test("the depth limit: a mapped group five levels up is not reached with --ldap-nested-depth 4 (refused, audited as cut short), and is with 5", async () => {
    const r = await signIn("deena");
    expect(r.status).toBe(401);
    expect((await auditOf("login.failed")).at(-1)!.detail).toMatchObject({ email: "deena", via: "ldap", reason: "no_group", nested_walk_stopped: "depth" });
    expect(await findUser(cfgOf({ "ldap-nested-depth": "4" }), "deena")).toMatchObject({ groups: [], walkStopped: "depth" });
    // With 5 the admins' group is found; the walk still reports the level it did not look at (groups above EOC-Admins).
    expect(await findUser(cfgOf({ "ldap-nested-depth": "5" }), "deena")).toMatchObject({ groups: [slapd.groups.admins], walkStopped: "depth" });
    expect(await findUser(cfgOf({ "ldap-nested-depth": "6" }), "deena")).toMatchObject({ groups: [slapd.groups.admins], walkStopped: null });
  });

  test("the count limit: thirty groups of her own stop a walk allowed ten (the directory's size limit is hit, not ignored); 500 finds the mapped one", async () => {
    expect(await findUser(cfgOf({ "ldap-nested-max-groups": "10" }), "mona")).toMatchObject({ groups: [], walkStopped: "count" });
    expect(await findUser(cfgOf({ "ldap-nested-max-groups": "500" }), "mona")).toMatchObject({ groups: [slapd.groups.viewers], walkStopped: null });
    expect((await signIn("mona")).status).toBe(200);
    // A group base that is not in the directory is said plainly, not read as "in no group".
    await expect(findUser(cfgOf({ "ldap-group-base": `ou=nowhere,${slapd.suffix}` }), "nina")).rejects.toThrow(/--ldap-group-base .* does not exist/);
  });

  test("the re-check follows the nesting: the inner group taken out of the mapped one ends the signed-in user's access", async () => {
    const nina = (await (await signIn("nina")).json()) as { token: string };
    const me = () => app.request("/api/v1/auth/me", { headers: { authorization: `Bearer ${nina.token}` } });
    expect((await me()).status).toBe(200);
    await slapd.admin((c) => member(c, slapd.groups.operators, G("Dispatch"), "delete"));
    try {
      await until("nina's session to be refused", async () => (await me()).status === 401);
      expect((await auditOf("user.disabled")).at(-1)!.detail).toMatchObject({ email: "nina@city.test", via: "directory", reason: "no_group" });
    } finally {
      await slapd.admin((c) => member(c, slapd.groups.operators, G("Dispatch")));
    }
    expect((await signIn("nina")).status).toBe(200);
  });

  test("in-chain on a directory that is not Active Directory: a 503 naming the setting, not a silent 'in no group'", async () => {
    // The filter rter sends: AD's chain rule on member, the DN escaped per RFC 4515.
    expect(inChainFilter(P("nina"))).toBe(`(member:1.2.840.113556.1.4.1941:=${P("nina")})`);
    expect(inChainFilter("CN=O'Neil\\, J (Ops)*,OU=Staff,DC=city,DC=gov")).toBe(
      "(member:1.2.840.113556.1.4.1941:=CN=O'Neil\\5c, J \\28Ops\\29\\2a,OU=Staff,DC=city,DC=gov)",
    );
    // Why rter asks the root DSE first: slapd takes the unknown rule as Undefined and answers nothing, even for a direct member.
    const c = new Client({ url: slapd.url, timeout: 5000, connectTimeout: 5000 });
    try {
      await c.bind(slapd.bindDn, slapd.bindPassword);
      expect(await isMemberInChain(c, slapd.groups.operators, P("alice"))).toBe(false);
    } finally {
      await c.unbind().catch(() => {});
    }
    const chain = await startTestApp({
      roles: "api",
      "database-url": await testDatabaseUrl(),
      ...slapd.settings,
      "ldap-nested-groups": "in-chain",
      "rate-limit-login": "100000/1m",
    });
    try {
      for (const uid of ["alice", "nina"]) {
        const r = await signIn(uid, chain);
        expect({ uid, status: r.status }).toEqual({ uid, status: 503 });
        expect(r.headers.get("retry-after")).toBe("60");
        const { detail } = (await r.json()) as { detail: string };
        expect(detail).toContain("--ldap-nested-groups in-chain needs Active Directory");
        expect(detail).toContain("use --ldap-nested-groups walk");
      }
    } finally {
      await chain.stop();
    }
  }, 60_000);

  test("configuration: walk needs --ldap-group-base; depth and count are bounded whole numbers; an unknown mode is refused", () => {
    const s: Record<string, string> = { ...slapd.settings, "ldap-nested-groups": "walk" };
    expect(() => buildLdapConfig((f) => s[f])).toThrow(/--ldap-group-base: needed with --ldap-nested-groups walk/);
    expect(cfgOf({}).nested).toEqual({ mode: "walk", groupBase: `ou=groups,${slapd.suffix}`, maxDepth: 4, maxGroups: 500 });
    expect(() => cfgOf({ "ldap-nested-depth": "0" })).toThrow(/1 to 32/);
    expect(() => cfgOf({ "ldap-nested-depth": "33" })).toThrow(/1 to 32/);
    expect(() => cfgOf({ "ldap-nested-max-groups": "1e3" })).toThrow(/1 to 5000/);
    expect(() => cfgOf({ "ldap-nested-groups": "recursive" })).toThrow(/direct, in-chain, walk/);
  });
});
