import { expect, test } from "bun:test";
import { ROOT } from "../support/rter-process.ts";

test("core/db/schema.gen.ts matches the migrated schema (regenerate: bun scripts/db-types.ts)", async () => {
  const p = Bun.spawn(["bun", "scripts/db-types.ts", "--verify"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  expect(code === 0 ? "" : err).toBe("");
  expect(code).toBe(0);
}, 60_000);
