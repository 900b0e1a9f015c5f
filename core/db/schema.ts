/**
 * Database types, generated from the migrated schema by `bun scripts/db-types.ts` into
 * schema.gen.ts (committed; test/integration/db-types.test.ts fails when it drifts).
 */
export type { DB } from "./schema.gen.ts";
import type { Users } from "./schema.gen.ts";

export type UserRole = Users["role"];
