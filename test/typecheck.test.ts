import { expect, test } from "bun:test";
import { ROOT } from "./support/rter-process.ts";

// Bun runs TypeScript without checking it; the compiler is the check that the types hold.
test("the whole project typechecks (tsc --noEmit, strict)", async () => {
  const p = Bun.spawn(["bunx", "tsc", "--noEmit", "-p", "."], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [code, out] = await Promise.all([p.exited, new Response(p.stdout).text()]);
  expect(out.trim()).toBe("");
  expect(code).toBe(0);
}, 120_000);
