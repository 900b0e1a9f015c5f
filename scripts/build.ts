// Builds the single executable: API, workers, migrations and the web UI in one file (dist/rter).
import { $ } from "bun";

const out = process.argv[2] ?? "dist/rter";
const t0 = performance.now();
await $`bun build --compile --minify --sourcemap cmd/rter.ts --outfile ${out}`.quiet();
const size = Bun.file(out).size;
console.log(`built ${out} (${(size / 1e6).toFixed(1)} MB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
