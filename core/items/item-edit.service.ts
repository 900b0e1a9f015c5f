import type { Kysely } from "kysely";
import { audit } from "../audit/audit.service.ts";
import type { AuthUser } from "../auth/auth.service.ts";
import { requireWriter } from "../auth/guards.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { publish } from "../events/events.service.ts";
import { activeHold, holdTargetOfItem } from "../retention/holds.service.ts";
import * as repo from "./items.repository.ts";
import { lockItem, updateItem, type ItemChanges } from "./item-edit.repository.ts";
import { itemView, visibleItem, type ItemView } from "./items.service.ts";

export interface ItemPatch {
  title?: string;
  body?: string;
  lat?: number | null;
  lng?: number | null;
  heading?: number | null;
}

type Field = "title" | "body" | "lat" | "lng" | "heading";

/**
 * Changes an item's title, body or position. Its reporter and staff may; viewers never. A held
 * item (or a stream's item whose stream is held) is evidence frozen by a legal hold: 409. The
 * item row is locked for the check and the write, so a hold placed meanwhile waits or wins. The
 * audit record keeps the old and the new value of every field that changed; a patch that changes
 * nothing records nothing. A stream's position follows its telemetry and cannot be set.
 */
export async function editItem(db: Kysely<DB>, user: AuthUser, itemId: string, patch: ItemPatch): Promise<ItemView> {
  requireWriter(user, "items");
  const item = await visibleItem(db, user, itemId);
  const fields = (Object.keys(patch) as Field[]).filter((k) => patch[k] !== undefined);
  if (!fields.length) throw new AppError("bad_request", "nothing to change: send title, body, lat/lng or heading");
  const movesPosition = fields.some((f) => f === "lat" || f === "lng" || f === "heading");
  if ((patch.lat === undefined) !== (patch.lng === undefined)) throw new AppError("bad_request", "lat and lng go together");
  if ((patch.lat === null) !== (patch.lng === null)) throw new AppError("bad_request", "lat and lng are both numbers or both null");
  if (movesPosition && item.stream_id) throw new AppError("conflict", "a stream's position follows its telemetry; it cannot be edited");
  const next = {
    title: patch.title !== undefined ? patch.title.trim() : item.title,
    body: patch.body !== undefined ? patch.body.trim() : item.body,
    lat: patch.lat !== undefined ? patch.lat : item.lat,
    lng: patch.lng !== undefined ? patch.lng : item.lng,
    heading: patch.heading !== undefined ? patch.heading : patch.lat === null ? null : item.heading,
  };
  if (!next.title && !next.body) throw new AppError("bad_request", "an item needs a title or a body");
  const changed = (["title", "body", "lat", "lng", "heading"] as Field[]).filter((f) => next[f] !== item[f]);
  if (!changed.length) return itemView(item);

  await db.transaction().execute(async (trx) => {
    const locked = await lockItem(trx, item.id);
    if (!locked) throw new AppError("not_found", "no such item");
    const hold = await activeHold(trx, await holdTargetOfItem(trx, item.id));
    if (hold) throw new AppError("conflict", "the item is under legal hold and cannot be edited", { detail: { hold_id: hold.id } });
    const set: ItemChanges = {};
    for (const f of changed) (set as Record<Field, unknown>)[f] = next[f];
    if (changed.some((f) => f === "lat" || f === "lng")) set.position_at = next.lat === null ? null : new Date();
    await updateItem(trx, item.id, set);
    const before = Object.fromEntries(changed.map((f) => [f, item[f]]));
    const after = Object.fromEntries(changed.map((f) => [f, next[f]]));
    await audit(trx, { action: "item.edited", targetType: "item", targetId: item.id, detail: { old: before, new: after } });
    await publish(trx, { type: "item.updated", streamId: item.stream_id, ownerId: item.author_id, data: { item_id: item.id, changes: after, by: user.email } });
  });
  return itemView((await repo.findItem(db, item.id))!);
}
