import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { goBinaries } from "../../../scripts/release.ts";
import { ROOT } from "../../support/rter-process.ts";

/** Set in the re-run of a deploy test file to the name of its inner run. */
const NETNS_ENV = "RTER_DEPLOY_NETNS";

/**
 * The two halves of a deploy test file. Inside (NETNS_ENV is `inner`): returns true, and the
 * file's own tests run. Outside: registers a test that re-runs `file` inside its own network
 * namespace (loopback only) and mount namespace (a private /run/postgresql), and passes only if
 * that run passed; returns false.
 */
export function insideNamespaces(opts: {
  file: string;
  inner: string;
  describe: string;
  test: string;
  /** Name of the tmpfs mounted on /run/postgresql (drills that run Postgres clusters). */
  tmpfs?: string;
  /** The /etc/hosts seen inside (names the drill resolves to loopback), bind-mounted over the machine's. */
  hosts?: string;
  /** Build MinIO and mc into the release cache first (default true: the drills that deploy them). */
  goBinaries?: boolean;
  /** A tool the drill cannot run without is missing: the message to fail with, else null. */
  missing?: () => string | null;
  /** bun test's per-test timeout in the inner run. */
  innerTimeoutMs: number;
  /** The outer test's timeout (default 50 min). */
  outerTimeoutMs?: number;
}): boolean {
  if (process.env[NETNS_ENV] === opts.inner) return true;
  describe(opts.describe, () => {
    test(
      opts.test,
      async () => {
        const missing = opts.missing?.();
        if (missing) throw new Error(missing);
        // MinIO and mc from the release cache; built here, where the Go module proxy is reachable,
        // the first time on a machine (minutes).
        if (opts.goBinaries ?? true) await goBinaries();
        const setup: string[] = [];
        // A mount namespace too, with its own /run/postgresql: Debian's pg_ctlcluster removes
        // /var/run/postgresql/15-main.pid whenever it stops any cluster named 15/main, and the
        // machine's own 15/main keeps its pid file there.
        if (opts.tmpfs) setup.push(`mount -t tmpfs -o mode=2775 ${opts.tmpfs} /run/postgresql && chown postgres:postgres /run/postgresql`);
        const hostsDir = opts.hosts === undefined ? null : mkdtempSync(join(tmpdir(), "rter-netns-hosts-"));
        if (hostsDir) {
          writeFileSync(join(hostsDir, "hosts"), opts.hosts!);
          setup.push(`mount --bind "${join(hostsDir, "hosts")}" /etc/hosts`);
        }
        const inside = [...setup, "ip link set lo up", 'exec "$@"'].join(" && ");
        const p = Bun.spawn(
          [
            "unshare",
            "--net",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            inside,
            "sh",
            process.execPath,
            "test",
            "--timeout",
            String(opts.innerTimeoutMs),
            opts.file,
          ],
          { cwd: ROOT, env: { ...process.env, [NETNS_ENV]: opts.inner }, stdout: "inherit", stderr: "inherit" },
        );
        const code = await p.exited;
        if (hostsDir) rmSync(hostsDir, { recursive: true, force: true });
        expect(code).toBe(0);
      },
      opts.outerTimeoutMs ?? 3_000_000,
    );
  });
  return false;
}
