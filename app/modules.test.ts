import { expect, test } from "bun:test";
import { makeNode } from "../cmd/context.ts";
import { buildConfig } from "../core/config/load.ts";
import { MODULES, resolveModules, startModules } from "./modules.ts";

test("roles resolve to their modules, dependencies first, each once", () => {
  expect(resolveModules(["worker"])).toEqual(["database", "storage", "ffmpeg", "queue-worker"]);
  expect(resolveModules(["web"])).toEqual(["web"]);
  expect(resolveModules(["api", "worker", "web"])).toEqual(["database", "storage", "api", "ffmpeg", "queue-worker", "web"]);
});

test("every dependency comes before its dependant for every role combination", () => {
  const roles = ["api", "worker", "web"] as const;
  for (let mask = 1; mask < 8; mask++) {
    const chosen = roles.filter((_, i) => mask & (1 << i));
    const order = resolveModules(chosen);
    order.forEach((m, i) => {
      for (const dep of MODULES[m].needs) expect(order.indexOf(dep)).toBeLessThan(i);
    });
  }
});

test("a role's context is built only from what its needs opened: started out of order, the module refuses by name", async () => {
  const node = makeNode(buildConfig({ "log-level": "error" }, {}), "test");
  await expect(startModules(node, ["api"])).rejects.toThrow("module api started before database: its needs are wrong");
  await expect(startModules(node, ["queue-worker"])).rejects.toThrow("module queue-worker started before database: its needs are wrong");
});
