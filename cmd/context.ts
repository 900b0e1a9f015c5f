import { hostname } from "node:os";
import type { Config } from "../core/config/config.ts";
import { createLogger } from "../core/log.ts";
import { RequestMetrics } from "../core/metrics.ts";
import type { Runtime } from "../core/runtime.ts";
import { VERSION } from "../core/version.ts";

export function makeRuntime(config: Config, component = "rter"): Runtime {
  const nodeId = `${hostname()}-${process.pid}-${crypto.randomUUID().slice(0, 6)}`;
  return {
    config,
    log: createLogger(config.logLevel, { node: nodeId, component }),
    metrics: new RequestMetrics(),
    nodeId,
    version: VERSION,
    checks: [],
    phase: "starting",
    has: (role) => config.roles.includes(role),
  };
}
