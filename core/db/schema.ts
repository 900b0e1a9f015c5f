import type { ColumnType, Generated } from "kysely";

/** Database types. Keep in step with core/db/migrations (test/integration/db-schema.test.ts checks). */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export interface UsersTable {
  id: Generated<string>;
  email: string;
  role: "admin" | "operator" | "reporter" | "viewer";
  password_hash: string | null;
  created_at: Generated<Date>;
  disabled_at: Timestamp | null;
}

export interface ApiTokensTable {
  id: Generated<string>;
  user_id: string;
  kind: "api" | "session";
  name: string;
  token_hash: Buffer;
  created_at: Generated<Date>;
  expires_at: Timestamp | null;
  revoked_at: Timestamp | null;
  last_used_at: Timestamp | null;
}

export interface QueueProbesTable {
  id: Generated<string>;
  enqueued_at: Generated<Date>;
  ran_at: Timestamp | null;
  run_count: Generated<number>;
  worker_id: string | null;
}

export interface DB {
  users: UsersTable;
  api_tokens: ApiTokensTable;
  queue_probes: QueueProbesTable;
}
