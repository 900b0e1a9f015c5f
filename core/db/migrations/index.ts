import type { Migration, MigrationProvider } from "kysely/migration";
import * as m0001 from "./2026_11_23_0001_identity.ts";
import * as m0002 from "./2026_11_23_0002_queue_probes.ts";
import * as m0003 from "./2026_11_23_0003_live_video.ts";
import * as m0005 from "./2026_11_23_0005_events.ts";
import * as m0004fixity from "./2026_11_23_0004_fixity_progress.ts";
import * as m0006 from "./2026_11_23_0006_security.ts";
import * as m0007 from "./2026_11_23_0007_workspaces.ts";
import * as m0008 from "./2026_11_23_0008_item_holds_workspace_retention.ts";
import * as m0009 from "./2026_11_23_0009_audit_chain.ts";
import * as m0010 from "./2026_11_23_0010_stream_finished_by.ts";
import * as m0011 from "./2026_11_28_0011_cmaf.ts";
import * as m0012 from "./2026_11_28_0012_credential_watch.ts";
import * as m0013 from "./2026_11_28_0013_incident_room.ts";
import * as m0014 from "./2026_11_28_0014_identity_providers.ts";
import * as m0015 from "./2026_11_28_0015_guidance_lock.ts";
import * as m0016 from "./2026_11_28_0016_oidc.ts";
import * as m0017 from "./2026_11_28_0017_webauthn.ts";
import * as m0018 from "./2026_11_28_0018_search_author_index.ts";
import * as m0019 from "./2026_11_28_0019_search_comment_order.ts";
import * as m0020 from "./2026_11_28_0020_search_tag_order_marks.ts";

/**
 * Static list, not a readdir: a `bun build --compile` binary has no migrations folder on disk.
 * Names sort in the order they must run.
 */
const MIGRATIONS: Record<string, Migration> = {
  "2026_11_23_0001_identity": m0001,
  "2026_11_23_0002_queue_probes": m0002,
  "2026_11_23_0003_live_video": m0003,
  "2026_11_23_0005_events": m0005,
  "2026_11_23_0004_fixity_progress": m0004fixity,
  "2026_11_23_0006_security": m0006,
  "2026_11_23_0007_workspaces": m0007,
  "2026_11_23_0008_item_holds_workspace_retention": m0008,
  "2026_11_23_0009_audit_chain": m0009,
  "2026_11_23_0010_stream_finished_by": m0010,
  "2026_11_28_0011_cmaf": m0011,
  "2026_11_28_0012_credential_watch": m0012,
  "2026_11_28_0013_incident_room": m0013,
  "2026_11_28_0014_identity_providers": m0014,
  "2026_11_28_0015_guidance_lock": m0015,
  "2026_11_28_0016_oidc": m0016,
  "2026_11_28_0017_webauthn": m0017,
  "2026_11_28_0018_search_author_index": m0018,
  "2026_11_28_0019_search_comment_order": m0019,
  "2026_11_28_0020_search_tag_order_marks": m0020,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
