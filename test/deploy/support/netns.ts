import { describe, expect, test } from "bun:test";
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
  /** Name of the tmpfs mounted on /run/postgresql. */
  tmpfs: string;
  /** bun test's per-test timeout in the inner run. */
  innerTimeoutMs: number;
}): boolean {
  if (process.env[NETNS_ENV] === opts.inner) return true;
  describe(opts.describe, () => {
    test(opts.test, async () => {
      // MinIO and mc from the release cache; built here, where the Go module proxy is reachable,
      // the first time on a machine (minutes).
      await goBinaries();
      // A mount namespace too, with its own /run/postgresql: Debian's pg_ctlcluster removes
      // /var/run/postgresql/15-main.pid whenever it stops any cluster named 15/main, and the
      // machine's own 15/main keeps its pid file there.
      const inside = `mount -t tmpfs -o mode=2775 ${opts.tmpfs} /run/postgresql && chown postgres:postgres /run/postgresql && ip link set lo up && exec "$@"`;
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
        {
          cwd: ROOT,
          env: { ...process.env, [NETNS_ENV]: opts.inner },
          stdout: "inherit",
          stderr: "inherit",
        },
      );
      expect(await p.exited).toBe(0);
    }, 3_000_000);
  });
  return false;
}
