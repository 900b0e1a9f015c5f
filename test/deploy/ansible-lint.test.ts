/** deploy/ansible passes Debian's ansible-playbook --syntax-check and ansible-lint (production profile). */
import { describe, expect, test } from "bun:test";
import { ANSIBLE_DIR } from "./support/ansible.ts";

function run(cmd: string[]): { code: number; out: string } {
  const p = Bun.spawnSync(cmd, { cwd: ANSIBLE_DIR, stdout: "pipe", stderr: "pipe", env: { ...process.env, ANSIBLE_NOCOLOR: "1", NO_COLOR: "1" } });
  return { code: p.exitCode, out: p.stdout.toString() + p.stderr.toString() };
}

describe("deploy/ansible", () => {
  test("every playbook passes --syntax-check with the example inventory", () => {
    const r = run(["ansible-playbook", "--syntax-check", "site.yml", "upgrade.yml", "rollback.yml", "backup.yml"]);
    expect({ code: r.code, out: r.code ? r.out : "" }).toEqual({ code: 0, out: "" });
  }, 60_000);

  test("ansible-lint is clean (production profile, offline)", () => {
    const r = run(["ansible-lint", "--offline", "-p"]);
    console.log(
      `ansible-lint: ${
        r.out
          .split("\n")
          .filter((l) => /Passed|Failed|failure/.test(l))
          .join(" ")
          .trim() || r.out.trim().split("\n").at(-1)
      }`,
    );
    expect({ code: r.code, out: r.code ? r.out : "" }).toEqual({ code: 0, out: "" });
  }, 180_000);

  test("the example inventory composes the URLs each node gets", () => {
    const r = run(["ansible", "api1.city.lan", "-m", "ansible.builtin.debug", "-a", "var=rter_database_url,rter_database_owner_url,rter_storage_url"]);
    expect(r.code).toBe(0);
    // The nodes run as the runtime role; the owner's URL is for `rter migrate` only.
    expect(r.out).toContain("postgres://rter_app:CHANGE-ME-postgres-rter-runtime-password@10.20.0.20:5432/rter");
    expect(r.out).toContain("postgres://rter:CHANGE-ME-postgres-rter-password@10.20.0.20:5432/rter");
    // rter's own MinIO user on the locked bucket, never the root credentials.
    expect(r.out).toContain("s3://rter-app:CHANGE-ME-minio-rter-secret-key@10.20.0.10:9000/rter-video?ca=/etc/rter/internal-ca.pem&object_lock=true");
    expect(r.out).not.toContain("CHANGE-ME-minio-root-password");
  }, 60_000);
});
