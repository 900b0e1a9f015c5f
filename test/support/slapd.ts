import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { Attribute, Change, Client } from "ldapts";
import { freePort } from "./net.ts";
import { underWatchdog } from "./watchdog.ts";

/**
 * A real OpenLDAP slapd (Debian's package, scripts/ensure-tools.sh --ldap) with a small city
 * directory, started per test file on a free loopback port. People: alice and bob (operators),
 * adam (admin), vera (viewer), dora (operator, but locked by ppolicy), nora (in no group) and
 * `star*man` (a uid holding a filter metacharacter, operator). Everyone's password is
 * `<uid>-pass-1`, the service account's `svc-pass-1`.
 */
export interface TestSlapd {
  /** ldap:// (StartTLS offered). */
  url: string;
  /** ldaps:// on its own port, certificate for IP 127.0.0.1 from a throwaway CA. */
  ldapsUrl: string;
  /** PEM of that CA (for --ldap-ca-file). */
  caFile: string;
  suffix: string;
  bindDn: string;
  bindPassword: string;
  userBase: string;
  groups: { operators: string; admins: string; viewers: string };
  /** Flags for rter (ldap-*), to spread into its settings. */
  settings: Record<string, string>;
  /** Changes the directory as its administrator would (rootdn). */
  admin<T>(fn: (c: Client) => Promise<T>): Promise<T>;
  /** Moves a person into or out of a group (groupOfNames member). */
  membership(uid: string, group: string, op: "add" | "delete"): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it for good and removes its files. */
  close(): Promise<void>;
}

export const SLAPD = "/usr/sbin/slapd";
export const slapdInstalled = () => existsSync(SLAPD) && existsSync("/usr/sbin/slapadd");

const SUFFIX = "dc=city,dc=test";
const ROOT_DN = `cn=admin,${SUFFIX}`;
const ROOT_PW = "root-pass-1";

function ldif(): string {
  const person = (uid: string, extra = "") => `dn: uid=${uid},ou=people,${SUFFIX}
objectClass: inetOrgPerson
uid: ${uid}
cn: ${uid}
sn: ${uid}
mail: ${uid.replace(/[^a-z]/g, "")}@city.test
userPassword: ${uid}-pass-1
${extra}`;
  const group = (cn: string, members: string[]) => `dn: cn=${cn},ou=groups,${SUFFIX}
objectClass: groupOfNames
cn: ${cn}
${members.map((m) => `member: uid=${m},ou=people,${SUFFIX}`).join("\n")}
`;
  return [
    `dn: ${SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: City\ndc: city\n`,
    `dn: ou=policies,${SUFFIX}\nobjectClass: organizationalUnit\nou: policies\n`,
    `dn: cn=default,ou=policies,${SUFFIX}\nobjectClass: device\nobjectClass: pwdPolicy\ncn: default\npwdAttribute: userPassword\npwdLockout: TRUE\n`,
    `dn: ou=services,${SUFFIX}\nobjectClass: organizationalUnit\nou: services\n`,
    `dn: cn=rter-svc,ou=services,${SUFFIX}\nobjectClass: person\ncn: rter-svc\nsn: svc\nuserPassword: svc-pass-1\n`,
    `dn: ou=people,${SUFFIX}\nobjectClass: organizationalUnit\nou: people\n`,
    `dn: ou=groups,${SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n`,
    person("alice"),
    person("bob"),
    person("adam"),
    person("vera"),
    // ppolicy's permanent lock: the directory refuses the bind, and rter sees the attribute.
    person("dora", "pwdAccountLockedTime: 000001010000Z\n"),
    person("nora"),
    person("star*man"),
    group("EOC-Operators", ["alice", "bob", "dora", "star*man"]),
    group("EOC-Admins", ["adam"]),
    group("EOC-Viewers", ["vera"]),
  ].join("\n");
}

/** A throwaway CA and a server certificate for 127.0.0.1 (openssl). */
function makeCertificates(dir: string): void {
  const run = (args: string[]) => {
    const r = Bun.spawnSync(["openssl", ...args], { cwd: dir, stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr.toString()}`);
  };
  run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=rter test CA"]);
  run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
  run(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext"]);
}

function conf(dir: string): string {
  return `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile ${dir}/slapd.pid
TLSCACertificateFile ${dir}/ca.pem
TLSCertificateFile ${dir}/server.pem
TLSCertificateKeyFile ${dir}/server.key
database mdb
suffix "${SUFFIX}"
rootdn "${ROOT_DN}"
rootpw ${ROOT_PW}
directory ${dir}/db
maxsize 10485760
overlay ppolicy
ppolicy_default "cn=default,ou=policies,${SUFFIX}"
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="cn=rter-svc,ou=services,${SUFFIX}" read by * none
`;
}

export async function startSlapd(): Promise<TestSlapd> {
  const dir = mkdtempSync(join(tmpdir(), "rter-slapd-"));
  mkdirSync(join(dir, "db"));
  makeCertificates(dir);
  writeFileSync(join(dir, "slapd.conf"), conf(dir));
  writeFileSync(join(dir, "data.ldif"), ldif());
  const add = Bun.spawnSync(["/usr/sbin/slapadd", "-f", join(dir, "slapd.conf"), "-l", join(dir, "data.ldif")], { stderr: "pipe" });
  if (add.exitCode !== 0) throw new Error(`slapadd failed: ${add.stderr.toString()}`);
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = `ldaps://127.0.0.1:${await freePort()}`;
  let proc: Subprocess<"pipe", "pipe", "inherit"> | null = null;

  const answers = async () => {
    const c = new Client({ url, timeout: 1000, connectTimeout: 1000 });
    try {
      await c.bind(ROOT_DN, ROOT_PW);
      return true;
    } catch {
      return false;
    } finally {
      await c.unbind().catch(() => {});
    }
  };
  const start = async () => {
    // -d 0: stay in the foreground (under the watchdog), log nothing.
    proc = Bun.spawn(underWatchdog([SLAPD, "-f", join(dir, "slapd.conf"), "-h", `${url}/ ${ldapsUrl}/`, "-d", "0"], join(dir, "slapd.log")), {
      stdin: "pipe",
      stdout: "pipe",
    });
    for (let i = 0; i < 100; i++) {
      if (await answers()) return;
      await Bun.sleep(100);
    }
    throw new Error(`slapd did not answer on ${url}`);
  };
  const stop = async () => {
    const p = proc;
    proc = null;
    if (!p) return;
    p.stdin.end();
    await p.exited;
    // The watchdog SIGKILLs slapd; wait until the port no longer answers.
    for (let i = 0; i < 50 && (await answers()); i++) await Bun.sleep(100);
  };
  await start();
  const groups = {
    operators: `cn=EOC-Operators,ou=groups,${SUFFIX}`,
    admins: `cn=EOC-Admins,ou=groups,${SUFFIX}`,
    viewers: `cn=EOC-Viewers,ou=groups,${SUFFIX}`,
  };
  const bindDn = `cn=rter-svc,ou=services,${SUFFIX}`;
  const userBase = `ou=people,${SUFFIX}`;
  const admin = async <T>(fn: (c: Client) => Promise<T>): Promise<T> => {
    const c = new Client({ url, timeout: 5000, connectTimeout: 5000 });
    await c.bind(ROOT_DN, ROOT_PW);
    try {
      return await fn(c);
    } finally {
      await c.unbind().catch(() => {});
    }
  };
  return {
    url,
    ldapsUrl,
    caFile: join(dir, "ca.pem"),
    suffix: SUFFIX,
    bindDn,
    bindPassword: "svc-pass-1",
    userBase,
    groups,
    settings: {
      "ldap-url": url,
      "ldap-bind-dn": bindDn,
      "ldap-bind-password": "svc-pass-1",
      "ldap-user-base": userBase,
      "ldap-role-map": `${groups.operators}=operator;${groups.admins}=admin;${groups.viewers}=viewer`,
      "ldap-timeout": "2s",
    },
    admin,
    membership: (uid, group, op) =>
      admin((c) => c.modify(group, new Change({ operation: op, modification: new Attribute({ type: "member", values: [`uid=${uid},${userBase}`] }) }))),
    stop,
    start,
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
