#!/usr/bin/env bun
import { ConfigError } from "../core/config/load.ts";
import { AppError } from "../core/errors.ts";
import { VERSION } from "../core/version.ts";
import { UsageError } from "./args.ts";
import { migrate, tokens, users } from "./admin.ts";
import { jobs } from "./jobs.ts";
import { audit } from "./audit.ts";
import { evidence } from "./evidence.ts";
import { serve } from "./serve.ts";
import { verify } from "./verify.ts";

const HELP = `rter ${VERSION} — real-time emergency response, self-hosted

Usage: rter <command> [options]

Commands:
  serve            run the appliance (roles api, worker, web; default all)
  migrate          apply database migrations and exit
  users add        create a user
  users password   set a user's password (ends their sessions)
  users unlock     lift a sign-in lockout
  tokens create    create an API token (printed alone on the last line)
  jobs             the trouble queue: jobs list, jobs retry ID | --all
  evidence verify  check an evidence package offline (hashes, signature, audit chain)
  audit verify     check the audit log's hash chain (--head HASH: against a shipped head)
  verify storage   read every stored object and check its hash against the database and the audit chain

Options:
  --help, -h       help for a command (rter serve --help)
  --version        print the version

Configuration: flags, then environment, then --config FILE (JSON). See rter serve --help.`;

const COMMANDS: Record<string, (args: string[], env: Record<string, string | undefined>) => Promise<number>> = {
  serve,
  migrate,
  users,
  tokens,
  jobs,
  audit,
  verify,
  evidence: (args) => evidence(args),
};

/** Every failure is one line on stderr: `rter: <what is wrong>`; usage and config errors exit 2. */
export async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === "--version" || cmd === "-v" || cmd === "version") return (console.log(VERSION), 0);
  if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") return (console.log(HELP), cmd === undefined ? 2 : 0);
  const run = COMMANDS[cmd];
  try {
    if (!run) throw new UsageError(`unknown command "${cmd}" (try rter --help)`);
    return await run(rest, env);
  } catch (e) {
    const msg = (e as Error).message?.split("\n")[0] ?? String(e);
    console.error(`rter: ${msg}`);
    return e instanceof UsageError || e instanceof ConfigError || (e instanceof AppError && e.status < 500) ? 2 : 1;
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2), process.env);
  process.exit(code);
}
