import { parseHeadArg, verifyAgainstHead } from "../core/audit/audit-head.service.ts";
import { withDatabase } from "./admin.ts";
import { parse, settingsHelp, UsageError } from "./args.ts";

export const AUDIT_HELP = `Usage: rter audit verify [--head HASH | --head SEQ:HASH]

Walks the audit log's hash chain in the database. With --head (a head shipped earlier by the
worker: the head= field of its syslog line or of --audit-head-file), that entry must still be in
the chain, at its sequence number, with everything up to it intact, so removing the newest entries
or rewriting them shows. Exit 0 when it holds, 1 naming the sequence number where it does not.

${settingsHelp()}`;

export async function audit(args: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values, positionals } = parse(args, { head: { type: "string" } });
  if (values.help) return (console.log(AUDIT_HELP), 0);
  const [sub, ...rest] = positionals;
  if (sub !== "verify")
    throw new UsageError(
      sub === undefined ? "audit needs a subcommand: audit verify [--head HASH]" : `unknown audit subcommand "${sub}" (expected: audit verify)`,
    );
  if (rest.length) throw new UsageError(`audit verify takes no arguments, got "${rest[0]}"`);
  let head = null;
  if (values.head !== undefined) {
    try {
      head = parseHeadArg(values.head as string);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const v = await withDatabase(values, env, (rt) => verifyAgainstHead(rt.database.db, head));
  if (!v.ok) {
    console.error(`rter: audit chain broken at seq ${v.seq}: ${v.reason}`);
    return 1;
  }
  console.log(
    v.headSeq === null ? `audit chain intact: ${v.entries} entries` : `audit chain intact: ${v.entries} entries, the shipped head is seq ${v.headSeq}`,
  );
  return 0;
}
