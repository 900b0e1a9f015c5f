/**
 * The playbooks verify the release bundle they install from, on the controller, before any host
 * is touched (verify-bundle.yml, first in site.yml, upgrade.yml and restore.yml): SHA256SUMS must
 * carry the release key's signature, and every file the plays copy must be the one it lists. A
 * bundle from `scripts/release.ts` (signed with a throwaway key, MinIO and mc from the release
 * cache) passes; one flipped byte in bin/rter stops site.yml, and restore.yml, before they change
 * any host, naming bin/rter; an edited SHA256SUMS, another key, or no key at all stop the
 * verification play. Negative cases run only that play (or site.yml / restore.yml, which stop in
 * it), so the file takes a few ansible runs.
 *
 * RTER_DEPLOY_BINARY: use this prebuilt rter binary instead of building.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBinary } from "../support/rter-process.ts";
import { release } from "../../scripts/release.ts";
import { ansiblePlaybook, tail, type PlaybookRun } from "./support/ansible.ts";

const HOSTS = { lb: "lb1", postgres: "db1", minio: "minio1", rter_api: "api1", rter_worker: "worker1" } as const;
const sha256 = (file: string) => new Bun.CryptoHasher("sha256").update(readFileSync(file)).digest("hex");

let dir = "";
/** The unpacked bundle as release() made it. */
let good = "";
let allowedSigners = "";
let otherKey = "";

function sh(argv: string[]): void {
  const p = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${p.stderr.toString()}`);
}

/** A copy of the good bundle (hard links: cheap) with edit applied; files edited are replaced, not written through. */
function variant(name: string, edit: (root: string) => void = () => {}): string {
  const root = join(dir, name);
  sh(["cp", "-al", good, root]);
  edit(root);
  return root;
}

/** Replaces a hard-linked file by a changed copy of it. */
function rewrite(file: string, change: (b: Buffer) => Buffer): void {
  const bytes = change(readFileSync(file));
  rmSync(file);
  writeFileSync(file, bytes, { mode: 0o755 });
}

const flipByte = (b: Buffer) => {
  const c = Buffer.from(b);
  const at = Math.floor(c.length / 2);
  c[at] = c[at]! ^ 0x01;
  return c;
};

/** Five local "hosts", each with an empty root of its own: a run that changed one leaves files there. */
function inventory(root: string, vars: Record<string, unknown>): { path: string; roots: string[] } {
  const roots: string[] = [];
  const group = (host: string) => {
    const r = `${root}-hosts/${host}`;
    mkdirSync(r, { recursive: true });
    roots.push(r);
    return { hosts: { [host]: { common_root: r, rter_root: r, haproxy_root: r, minio_root: r, postgres_root: r } } };
  };
  const inv = {
    all: {
      vars: {
        ansible_connection: "local",
        ansible_python_interpreter: "/usr/bin/python3",
        rter_binary_src: join(root, "bin/rter"),
        minio_binary_src: join(root, "bin/minio"),
        minio_mc_binary_src: join(root, "bin/mc"),
        ...vars,
      },
      children: {
        lb: group(HOSTS.lb),
        postgres: group(HOSTS.postgres),
        minio: group(HOSTS.minio),
        rter: { children: { rter_api: group(HOSTS.rter_api), rter_worker: group(HOSTS.rter_worker) } },
      },
    },
  };
  const path = `${root}-hosts.yml`;
  writeFileSync(path, JSON.stringify(inv, null, 2));
  return { path, roots };
}

function run(root: string, playbook: string, vars: Record<string, unknown>, extra: string[] = []): Promise<PlaybookRun & { roots: string[] }> {
  const inv = inventory(root, vars);
  return ansiblePlaybook(["-i", inv.path, playbook, ...extra], {}, 300_000, join(root, "ansible")).then((r) => ({ ...r, roots: inv.roots }));
}

/** The one failure message of the run (ansible's "msg" of the failed task). */
function failure(r: PlaybookRun): string {
  const json = /^fatal: \[[^\]]+\]: FAILED! => (\{.*\})$/m.exec(r.output)?.[1];
  return json ? (JSON.parse(json) as { msg: string }).msg : `no failure in:\n${tail(r, 40)}`;
}

/** Stopped in the verification play: it failed, no later play started, no host changed, every root still empty. */
function expectStoppedBeforeAnyHost(r: PlaybookRun & { roots: string[] }): void {
  expect(r.code).not.toBe(0);
  expect(r.output).toContain("PLAY [Verify the release bundle]");
  expect(r.output.match(/^PLAY \[/gm)).toHaveLength(1);
  expect(Object.keys(r.recap).sort()).toEqual(Object.values(HOSTS).sort());
  for (const [h, recap] of Object.entries(r.recap)) expect({ host: h, changed: recap.changed }).toEqual({ host: h, changed: 0 });
  for (const root of r.roots) expect({ root, files: readdirSync(root) }).toEqual({ root, files: [] });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rter-bundle-verify-"));
  const key = join(dir, "signing-key");
  sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test release key", "-f", key]);
  const rterBinary = process.env.RTER_DEPLOY_BINARY ?? (await buildBinary());
  const r = await release({ out: join(dir, "dist"), signingKey: key, rterBinary, version: "0.0.0-test" });
  allowedSigners = r.allowedSigners;
  const unpacked = join(dir, "unpacked");
  mkdirSync(unpacked);
  sh(["tar", "-xzf", r.archive, "-C", unpacked]);
  good = join(unpacked, `rter-${r.version}-${r.platform}`);
  // Another key, allowed for the same identity: what a city holding the wrong key file has.
  const other = join(dir, "other-key");
  sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "another key", "-f", other]);
  otherKey = join(dir, "other.allowed_signers");
  writeFileSync(otherKey, `releases@rter namespaces="rter-release" ${readFileSync(`${other}.pub`, "utf8").trim()}\n`);
}, 900_000);

afterAll(() => {
  if (dir && !process.env.RTER_DEPLOY_KEEP) rmSync(dir, { recursive: true, force: true });
});

describe("deploy/ansible verifies the release bundle before installing from it", () => {
  test("a bundle from the release passes, and every host gets the signed sha256 of each binary for its copy", async () => {
    const root = variant("good");
    // The verification play, then what the install tasks see on each host.
    const probe = join(root, "ansible/probe-verified.yml");
    writeFileSync(
      probe,
      `- name: Verify
  ansible.builtin.import_playbook: verify-bundle.yml
- name: What the install tasks see
  hosts: all
  gather_facts: false
  tasks:
    - name: Show the verified checksums
      ansible.builtin.debug:
        msg: "SUMS {{ inventory_hostname }} {{ rter_bundle_sha256[rter_binary_src] }} {{ rter_bundle_sha256[minio_binary_src] }} {{ rter_bundle_sha256[minio_mc_binary_src] }}"
`,
    );
    const r = await run(root, "probe-verified.yml", { rter_bundle_allowed_signers: allowedSigners });
    if (r.code !== 0) throw new Error(`verification failed on a good bundle:\n${tail(r, 60)}`);
    const want = ["rter", "minio", "mc"].map((b) => sha256(join(root, "bin", b))).join(" ");
    for (const h of Object.values(HOSTS)) expect(r.output).toContain(`"msg": "SUMS ${h} ${want}"`);
    console.log(`verify-bundle.yml on a good bundle: ${(r.ms / 1000).toFixed(1)} s`);
  }, 300_000);

  // restore.yml installs the bundle's binaries too (minio and rter roles), so it stops the same
  // way, even when the restore was confirmed.
  for (const [playbook, extra] of [
    ["site.yml", []],
    ["restore.yml", ["-e", "restore_confirm=yes"]],
  ] as const) {
    test(`one byte flipped in bin/rter: ${playbook} stops before changing any host, naming bin/rter`, async () => {
      const root = variant(`flipped-${playbook}`, (b) => rewrite(join(b, "bin/rter"), flipByte));
      const r = await run(root, playbook, { rter_bundle_allowed_signers: allowedSigners }, [...extra]);
      expectStoppedBeforeAnyHost(r);
      const msg = failure(r);
      console.log(`flipped byte, ${playbook}: ${msg}`);
      expect(msg).toStartWith("The release bundle does not verify, nothing was changed: bin/rter has sha256 ");
      expect(msg).toContain(`SHA256SUMS lists ${sha256(join(good, "bin/rter"))}`);
      expect(msg).not.toContain("bin/minio");
    }, 300_000);
  }

  test("SHA256SUMS edited to match a changed bin/rter: the signature check stops it", async () => {
    const root = variant("resummed", (b) => {
      rewrite(join(b, "bin/rter"), flipByte);
      const sum = sha256(join(b, "bin/rter"));
      rewrite(join(b, "SHA256SUMS"), (s) => Buffer.from(s.toString().replace(/^[0-9a-f]{64}(?= {2}bin\/rter$)/m, sum)));
    });
    expect(readFileSync(join(root, "SHA256SUMS"), "utf8")).toContain(`${sha256(join(root, "bin/rter"))}  bin/rter`);
    const r = await run(root, "verify-bundle.yml", { rter_bundle_allowed_signers: allowedSigners });
    expectStoppedBeforeAnyHost(r);
    const msg = failure(r);
    console.log(`edited SHA256SUMS: ${msg}`);
    expect(msg).toContain(`${join(root, "SHA256SUMS")} is not signed by the release key ${allowedSigners}`);
  }, 300_000);

  test("the wrong public key stops it", async () => {
    const root = variant("wrong-key");
    const r = await run(root, "verify-bundle.yml", { rter_bundle_allowed_signers: otherKey });
    expectStoppedBeforeAnyHost(r);
    expect(failure(r)).toContain(`is not signed by the release key ${otherKey}`);
  }, 300_000);

  test("no key named: refused, unless rter_bundle_verify is false", async () => {
    const root = variant("no-key");
    const r = await run(root, "verify-bundle.yml", {});
    expectStoppedBeforeAnyHost(r);
    expect(failure(r)).toStartWith("rter_bundle_allowed_signers is not set");
    const off = await run(root, "verify-bundle.yml", { rter_bundle_verify: false });
    expect({ code: off.code, out: off.code ? tail(off) : "" }).toEqual({ code: 0, out: "" });
    expect(off.output).toContain("rter_bundle_verify is false");
  }, 300_000);
});
