import { verifyStorage } from "../core/fixity/verify-storage.ts";
import { openStore } from "../core/storage/open.ts";
import { withDatabase } from "./admin.ts";
import { parse, settingsHelp, UsageError } from "./args.ts";

export const VERIFY_HELP = `Usage: rter verify storage [--config FILE]

Reads every object the database records (chunks, CMAF inits, segments, recordings) from the
object store and compares its SHA-256 with the database's; every chunk and init must also carry
the hash the audit chain recorded when it was stored. Read-only (unlike the fixity job it records
nothing), so it can check a restored database before rter starts. Exit 0 when everything
matches, 1 listing what is missing, changed or unknown to the audit chain. Check the chain itself
with rter audit verify --head SEQ:HASH.

${settingsHelp()}`;

/** Problems printed one per line; more than this are counted, not listed. */
const SHOWN = 50;

export async function verify(args: string[], env: Record<string, string | undefined>): Promise<number> {
  const { values, positionals } = parse(args);
  if (values.help) return (console.log(VERIFY_HELP), 0);
  const [sub, ...rest] = positionals;
  if (sub !== "storage")
    throw new UsageError(sub === undefined ? "verify needs a subcommand: verify storage" : `unknown verify subcommand "${sub}" (expected: verify storage)`);
  if (rest.length) throw new UsageError(`verify storage takes no arguments, got "${rest[0]}"`);
  const report = await withDatabase(values, env, async (rt) => {
    // Not ensure(): a check must not create the bucket it is checking.
    const store = openStore(rt.config.storage);
    try {
      return await verifyStorage(rt.database.db, store);
    } finally {
      await store.close();
    }
  });
  const summary = `${report.objects} objects (${report.bytes} bytes), ${report.audited} chunks and inits in the audit chain`;
  if (report.problems.length === 0) {
    console.log(`storage intact: ${summary}`);
    return 0;
  }
  for (const p of report.problems.slice(0, SHOWN)) {
    console.error(
      `${p.kind} ${p.source} ${p.object_key} stream=${p.stream_id} expected=${p.expected_sha256}${p.actual_sha256 ? ` actual=${p.actual_sha256}` : ""}`,
    );
  }
  if (report.problems.length > SHOWN) console.error(`… and ${report.problems.length - SHOWN} more`);
  const count = (k: string) => report.problems.filter((p) => p.kind === k).length;
  console.error(
    `rter: storage damaged: ${count("missing")} missing, ${count("mismatch")} changed, ${count("not_in_audit")} not in the audit chain, of ${summary}`,
  );
  return 1;
}
