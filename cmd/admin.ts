import { unlockUser } from "../core/auth/admin.service.ts";
import { addUser, createToken, normalizeEmail, parseRole } from "../core/auth/auth.service.ts";
import { resetPassword } from "../core/auth/password.service.ts";
import { parseDuration } from "../core/config/parse.ts";
import { openDatabaseContext } from "../app/modules.ts";
import type { DatabaseContext } from "../core/runtime.ts";
import { loadConfig, parse, settingsHelp, UsageError } from "./args.ts";
import { makeNode } from "./context.ts";

/** Opens just the database (embedded or external, migrated) for a one-shot admin command. */
export async function withDatabase<T>(
  values: Record<string, unknown>,
  env: Record<string, string | undefined>,
  fn: (rt: DatabaseContext) => Promise<T>,
): Promise<T> {
  const config = loadConfig(values as never, env);
  const node = makeNode({ ...config, logLevel: config.logLevel === "debug" ? "debug" : "warn" }, "cli");
  const { ctx, stop } = await openDatabaseContext(node);
  try {
    return await fn(ctx);
  } finally {
    await stop();
  }
}

export const MIGRATE_HELP = `Usage: rter migrate [--database-url URL] [--database-owner-url URL]\n\nApplies database migrations (rter's and the job queue's) and exits. With --database-owner-url they run as that\nrole, which then sets the runtime role's (--database-url) rights: DML only, none that could undo the evidence.\n\n${settingsHelp()}`;

export async function migrate(args: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values, positionals } = parse(args);
  if (values.help) return (console.log(MIGRATE_HELP), 0);
  if (positionals.length) throw new UsageError(`migrate takes no arguments, got "${positionals[0]}"`);
  await withDatabase(values, env, async () => {});
  console.log("migrations applied");
  return 0;
}

export const USERS_HELP = `Usage: rter users add --email E --role admin|operator|reporter|viewer [--password P]
       rter users password --email E [--password P]
       rter users unlock --email E

add       creates a user. Without --password a random one is generated and printed.
password  sets a user's password and ends all their sessions (API tokens stay); without
          --password a random one is generated and printed. Lifts a lockout too.
unlock    lifts a sign-in lockout (after --login-max-failures failed attempts) at once.

Passwords: at least 12 characters, not one of the common passwords shipped in rter.`;

export async function users(args: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values, positionals } = parse(args, { email: { type: "string" }, role: { type: "string" }, password: { type: "string" } });
  if (values.help) return (console.log(USERS_HELP), 0);
  if (!["add", "password", "unlock"].includes(positionals[0] ?? "") || positionals.length !== 1)
    throw new UsageError(`unknown users subcommand "${positionals.join(" ")}" (expected: users add, users password, users unlock)`);
  if (typeof values.email !== "string") throw new UsageError("--email is required");
  if (positionals[0] === "unlock") {
    const u = await withDatabase(values, env, (rt) => unlockUser(rt.database.db, { email: normalizeEmail(values.email as string) }));
    console.log(`unlocked ${u.role} ${u.email} (${u.id})`);
    return 0;
  }
  if (positionals[0] === "password") {
    if (values.role !== undefined) throw new UsageError("--role is not for users password (change a role in the admin page or PATCH /api/v1/admin/users/{id})");
    const email = normalizeEmail(values.email as string);
    const r = await withDatabase(values, env, (rt) => resetPassword(rt.database.db, { email }, values.password as string | undefined, "cli"));
    console.log(`password set for ${r.user.role} ${r.user.email} (${r.user.id}); ${r.sessionsEnded} session(s) ended`);
    if (r.password !== undefined) console.log(`password: ${r.password}`);
    return 0;
  }
  if (typeof values.role !== "string") throw new UsageError("--role is required (admin, operator, reporter or viewer)");
  const { user, password } = await withDatabase(values, env, (rt) =>
    addUser(rt.database.db, { email: values.email as string, role: values.role as string, password: values.password as string | undefined }),
  );
  console.log(`created ${user.role} ${user.email} (${user.id})`);
  if (values.password === undefined) console.log(`password: ${password}`);
  return 0;
}

export const TOKENS_HELP = `Usage: rter tokens create --email E [--name N] [--ttl DURATION] [--role ROLE]\n\nCreates an API token for a user and prints it alone on the last line. --ttl like 30d, 12h (default 90d; "never" for no expiry). --role makes the token act with a smaller role than the user's (e.g. viewer for a dashboard).`;

export async function tokens(args: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values, positionals } = parse(args, { email: { type: "string" }, name: { type: "string" }, ttl: { type: "string" }, role: { type: "string" } });
  if (values.help) return (console.log(TOKENS_HELP), 0);
  if (positionals[0] !== "create" || positionals.length !== 1)
    throw new UsageError(`unknown tokens subcommand "${positionals.join(" ")}" (expected: tokens create)`);
  if (typeof values.email !== "string") throw new UsageError("--email is required");
  const name = (values.name as string | undefined) ?? "cli";
  if (name.length < 1 || name.length > 200) throw new UsageError("--name must be 1 to 200 characters");
  let ttlMs: number | null;
  try {
    ttlMs = values.ttl === "never" ? null : parseDuration((values.ttl as string | undefined) ?? "90d");
  } catch (e) {
    throw new UsageError(`--ttl: ${(e as Error).message}`);
  }
  const role = typeof values.role === "string" ? parseRole(values.role) : null;
  const { token, expiresAt } = await withDatabase(values, env, (rt) => createToken(rt.database.db, { email: values.email as string, name, ttlMs, role }));
  console.log(`token "${name}" for ${values.email}, expires ${expiresAt ? expiresAt.toISOString() : "never"}`);
  console.log(token);
  return 0;
}
