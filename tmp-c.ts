import { findPostgresBinDir, openEmbeddedPostgres } from "./core/db/embedded-postgres.ts";
console.log("bin:", findPostgresBinDir());
if (process.argv[2]) {
  const pgc = await openEmbeddedPostgres({ dataDir: process.argv[2], port: 55439, log: (l) => console.log("[pg]", l) });
  await pgc.start();
  console.log("started", pgc.url);
}
