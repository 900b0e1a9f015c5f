import { shipHead, type ShipDeps } from "../../core/audit/audit-head.service.ts";

/**
 * Task id: audit_head (batch). No payload. Writes the audit chain's newest (seq, hash, time) as one
 * syslog-style log line and appends it to `--audit-head-file`, so a copy of the head lives where
 * whoever can rewrite the database cannot. Started by the worker's crontab (`--audit-head-schedule`).
 */
export async function run(deps: ShipDeps, headFile: string | null): Promise<void> {
  await shipHead(deps, headFile);
}
