import type { Kysely, Transaction } from "kysely";
import type { DB } from "../db/schema.ts";
import * as repo from "./events.repository.ts";

/** What operator screens react to. Data stays small: ids and the few fields a list row shows. */
export type EventType =
  | "stream.created"
  | "stream.finished"
  | "stream.failed"
  | "stream.deleted"
  | "stream.reopened"
  | "segment.created"
  | "chunk.failed"
  | "telemetry"
  | "poster.updated"
  | "recording.ready"
  | "item.created"
  | "item.deleted"
  | "tag.created"
  | "tag.added"
  | "tag.removed"
  | "rank.changed"
  | "rule.created"
  | "rule.deleted"
  | "guidance.set"
  | "guidance.cleared"
  | "item.updated"
  | "item.commented"
  | "export.progress"
  | "guidance.locked";

export interface RterEvent {
  id: string;
  type: EventType;
  stream_id: string | null;
  owner_id: string | null;
  data: Record<string, unknown>;
  created_at: string;
}

export const EVENTS_CHANNEL = "rter_events";

/**
 * Appends an event in the caller's transaction. The NOTIFY carries no payload: Postgres folds
 * identical notifications of one transaction into one, so a transaction that writes many events
 * takes NOTIFY's commit-time global lock once; listeners read the new rows by id.
 */
export async function publish(
  db: Kysely<DB> | Transaction<DB>,
  e: { type: EventType; streamId?: string | null; ownerId?: string | null; data: Record<string, unknown> },
): Promise<void> {
  await repo.appendEvent(db, { type: e.type, stream_id: e.streamId ?? null, owner_id: e.ownerId ?? null, data: JSON.stringify(e.data) }, EVENTS_CHANNEL);
}

export async function eventsAfter(db: Kysely<DB>, afterId: string, limit: number): Promise<RterEvent[]> {
  const rows = await repo.eventsAfter(db, afterId, limit);
  return rows.map((r) => ({
    id: String(r.id),
    type: r.type as EventType,
    stream_id: r.stream_id,
    owner_id: r.owner_id,
    data: r.data as Record<string, unknown>,
    created_at: new Date(r.created_at).toISOString(),
  }));
}

export async function latestEventId(db: Kysely<DB>): Promise<string> {
  return (await repo.maxEventId(db)) ?? "0";
}
