// Regenerates core/db/schema.gen.ts from a freshly migrated database (`bun scripts/db-types.ts`),
// or with --verify fails when the committed file has drifted from the migrations.
import { $ } from "bun";
import { createLogger } from "../core/log.ts";
import { openDatabase } from "../core/db/kysely.ts";
import { migrateToLatest } from "../core/db/migrate.ts";
import { testDatabaseUrl } from "../test/support/postgres.ts";

const OUT = "core/db/schema.gen.ts";
// Check constraints are invisible to the generator; these columns are closed sets in the schema.
const OVERRIDES = {
  columns: {
    "users.role": '"admin" | "operator" | "reporter" | "viewer"',
    "api_tokens.kind": '"api" | "session"',
    "streams.state": 'Generated<"live" | "finished" | "failed">',
    "chunks.state": 'Generated<"stored" | "segmented" | "failed" | "listed">',
    "streams.media_format": '"classic" | "cmaf" | null',
    "idempotency_keys.state": '"in_flight" | "done"',
    "api_tokens.role": '"admin" | "operator" | "reporter" | "viewer" | null',
    "invites.role": 'Generated<"operator" | "reporter" | "viewer">',
    "streams.finished_by": '"reporter" | "idle" | null',
    "exports.state": 'Generated<"queued" | "building" | "ready" | "failed">',
    "signing_keys.algorithm": '"ed25519"',
    "webauthn_challenges.purpose": '"register" | "authenticate"',
  },
};

const url = await testDatabaseUrl();
const log = createLogger("warn");
const database = openDatabase({ url, poolMax: 2, statementTimeoutMs: 30_000, connectTimeoutMs: 10_000, applicationName: "db-types" }, log);
await migrateToLatest(database, url, log);
await database.close();

const verify = process.argv.includes("--verify") ? ["--verify"] : [];
const r =
  await $`bunx kysely-codegen --dialect postgres --url ${url} --include-pattern ${"public.*"} --exclude-pattern ${"public.kysely_*"} --overrides ${JSON.stringify(OVERRIDES)} --out-file ${OUT} --log-level error ${verify}`
    .nothrow()
    .quiet();
// The generator warns that it cannot parse the override unions, then emits them verbatim (as wanted).
if (r.exitCode !== 0) process.stderr.write(r.stdout.toString() + r.stderr.toString());
process.exit(r.exitCode);
