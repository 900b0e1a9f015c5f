import { hostname } from "node:os";
import type { Config } from "../core/config/config.ts";
import { createLogger } from "../core/log.ts";
import { RequestMetrics } from "../core/metrics.ts";
import type { NodeContext } from "../core/runtime.ts";
import { VERSION } from "../core/version.ts";

/** The node a process starts as; its roles' modules (app/modules.ts) extend it into their contexts. */
export function makeNode(config: Config, component = "rter"): NodeContext {
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
