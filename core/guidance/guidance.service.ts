import type { Kysely } from "kysely";
import type { AuthUser } from "../auth/auth.service.ts";
import { requireRole } from "../auth/guards.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { publish } from "../events/events.service.ts";
import { visibleStream } from "../streams/streams.service.ts";
import * as repo from "./guidance.repository.ts";
import { holdLock } from "./lock.service.ts";

export interface GuidanceInput {
  lat?: number;
  lng?: number;
  heading?: number;
  message?: string;
}

export interface GuidanceView {
  id: string;
  stream_id: string;
  lat: number | null;
  lng: number | null;
  heading: number | null;
  message: string;
  by: string | null;
  created_at: string;
}

/** The reporter's current instruction, or null. The stream's reporter and all operators may read it. */
export async function currentGuidance(db: Kysely<DB>, user: AuthUser, streamId: string): Promise<GuidanceView | null> {
  const s = await visibleStream(db, user, streamId);
  const g = await repo.latestGuidance(db, s.id);
  if (!g || g.cleared_at) return null;
  return {
    id: String(g.id),
    stream_id: g.stream_id,
    lat: g.lat,
    lng: g.lng,
    heading: g.heading,
    message: g.message,
    by: g.email,
    created_at: new Date(g.created_at).toISOString(),
  };
}

/** An operator points a live reporter at a place or a direction, with a short message. */
export async function setGuidance(db: Kysely<DB>, user: AuthUser, streamId: string, input: GuidanceInput): Promise<GuidanceView> {
  requireRole(user, "operator", "admin");
  const s = await visibleStream(db, user, streamId);
  if ((input.lat === undefined) !== (input.lng === undefined)) throw new AppError("bad_request", "lat and lng go together");
  const message = (input.message ?? "").trim();
  if (input.lat === undefined && input.heading === undefined && !message)
    throw new AppError("bad_request", "guidance needs a target point, a heading or a message");
  const row = await db.transaction().execute(async (trx) => {
    await holdLock(trx, user, s);
    const g = await repo.insertGuidance(trx, {
      stream_id: s.id,
      set_by: user.id,
      lat: input.lat ?? null,
      lng: input.lng ?? null,
      heading: input.heading ?? null,
      message,
    });
    await publish(trx, {
      type: "guidance.set",
      streamId: s.id,
      // The reporter of the stream receives it on their own event stream.
      ownerId: s.owner_id,
      data: { guidance_id: String(g.id), lat: g.lat, lng: g.lng, heading: g.heading, message, by: user.email },
    });
    return g;
  });
  return {
    id: String(row.id),
    stream_id: row.stream_id,
    lat: row.lat,
    lng: row.lng,
    heading: row.heading,
    message: row.message,
    by: user.email,
    created_at: new Date(row.created_at).toISOString(),
  };
}

export async function clearGuidance(db: Kysely<DB>, user: AuthUser, streamId: string): Promise<void> {
  requireRole(user, "operator", "admin");
  const s = await visibleStream(db, user, streamId);
  await db.transaction().execute(async (trx) => {
    await holdLock(trx, user, s);
    if ((await repo.clearOpenGuidance(trx, s.id)) > 0)
      await publish(trx, { type: "guidance.cleared", streamId: s.id, ownerId: s.owner_id, data: { by: user.email } });
  });
}
