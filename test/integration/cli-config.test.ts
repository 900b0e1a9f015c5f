import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../support/rter-process.ts";

const dir = mkdtempSync(join(tmpdir(), "rter-cfg-"));
const badJson = join(dir, "bad.json");
writeFileSync(badJson, "{ not json");
const unknownKey = join(dir, "unknown.json");
writeFileSync(unknownKey, JSON.stringify({ colour: "red" }));
const good = join(dir, "good.json");
writeFileSync(good, JSON.stringify({ port: 9999, roles: ["api", "web"], "database-url": "postgres://u:hunter2@db.example:5432/rter" }));

/** Each bad setting: non-zero exit, exactly one line on stderr, naming the setting. */
const BAD: [string, string[], Record<string, string>, RegExp][] = [
  ["unknown role", ["serve", "--roles", "api,bogus"], {}, /^rter: --roles: unknown role "bogus"/],
  ["empty roles", ["serve", "--roles", ","], {}, /^rter: --roles:/],
  ["port out of range", ["serve", "--port", "70000"], {}, /^rter: --port: must be between 1 and 65535/],
  ["port not a number", ["serve", "--port", "80a"], {}, /^rter: --port: expected a whole number/],
  ["port from env", ["serve"], { RTER_PORT: "0" }, /^rter: --port:/],
  ["malformed database url", ["serve", "--database-url", "not a url"], {}, /^rter: --database-url: not a valid URL/],
  ["wrong database scheme", ["serve", "--database-url", "mysql://x@h/db"], {}, /^rter: --database-url: scheme must be postgres/],
  ["storage url without creds", ["serve", "--storage-url", "s3://minio:9000/bucket"], {}, /^rter: --storage-url: .*credentials/],
  ["storage url bad scheme", ["serve", "--storage-url", "ftp://x/y"], {}, /^rter: --storage-url: unknown scheme/],
  ["storage url bad port", ["serve", "--storage-url", "s3://a:b@h:99999/bucket"], {}, /^rter: --storage-url: .*port/],
  ["public url", ["serve", "--public-url", "javascript:alert(1)"], {}, /^rter: --public-url: scheme must be http or https/],
  ["bad duration", ["serve", "--shutdown-grace", "soon"], {}, /^rter: --shutdown-grace: expected a duration/],
  ["bad size", ["serve", "--body-limit", "12XB"], {}, /^rter: --body-limit: expected a size/],
  ["bad log level", ["serve"], { RTER_LOG_LEVEL: "loud" }, /^rter: --log-level:/],
  ["unreadable config file", ["serve", "--config", join(dir, "missing.json")], {}, /^rter: --config: cannot read .*ENOENT/],
  ["config file not json", ["serve", "--config", badJson], {}, /^rter: --config: .* is not valid JSON/],
  ["config file unknown key", ["serve", "--config", unknownKey], {}, /^rter: --config: unknown setting "colour"/],
  ["unknown flag", ["serve", "--colour", "red"], {}, /^rter: Unknown option '--colour'/],
  ["flag missing value", ["serve", "--port"], {}, /^rter: Option '--port <value>' argument missing/],
  ["unknown command", ["launch"], {}, /^rter: unknown command "launch"/],
  ["users add without email", ["users", "add", "--role", "admin"], {}, /^rter: --email is required/],
  ["users bad subcommand", ["users", "remove"], {}, /^rter: unknown users subcommand "remove"/],
  ["tokens bad ttl", ["tokens", "create", "--email", "a@b.c", "--ttl", "5 years"], {}, /^rter: --ttl: expected a duration/],
  ["migrate extra argument", ["migrate", "now"], {}, /^rter: migrate takes no arguments/],
];

describe("bad configuration stops the process with one line naming the setting", () => {
  for (const [name, args, env, pattern] of BAD) {
    test(name, async () => {
      const r = await runCli(args, { DATABASE_URL: undefined, RTER_PORT: undefined, RTER_ROLES: undefined, ...env });
      expect(r.code).not.toBe(0);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(pattern);
      expect(r.stderr).not.toContain("    at "); // no stack trace
    });
  }
});

describe("good configuration", () => {
  test("--version and --help", async () => {
    const v = await runCli(["--version"]);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    for (const args of [["--help"], ["serve", "--help"], ["migrate", "--help"], ["users", "--help"], ["tokens", "--help"]]) {
      const h = await runCli(args);
      expect(h.code).toBe(0);
      expect(h.stdout).toContain("Usage");
    }
  });

  test("flags beat environment beat config file; secrets are redacted in --print-config", async () => {
    const r = await runCli(["serve", "--config", good, "--port", "7000", "--print-config"], { RTER_PORT: "7100", RTER_ROLES: "worker" });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^port\s+7000\s+\[flag\]/m);
    expect(r.stdout).toMatch(/^roles\s+worker\s+\[env\]/m);
    expect(r.stdout).toMatch(/^database-url\s+postgres:\/\/u:\*\*\*@db\.example:5432\/rter\s+\[file\]/m);
    expect(r.stdout).not.toContain("hunter2");
  });

  test("--verify-config and --list-roles", async () => {
    const v = await runCli(["serve", "--roles", "api,web", "--verify-config"]);
    expect(v.code).toBe(0);
    const l = await runCli(["serve", "--list-roles"]);
    expect(l.code).toBe(0);
    expect(l.stdout).toMatch(/^worker\s+database -> storage -> ffmpeg -> queue-worker$/m);
    expect(l.stdout).toMatch(/^api\s+database -> storage -> api$/m);
  });
});
