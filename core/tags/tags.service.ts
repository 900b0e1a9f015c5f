import type { Kysely } from "kysely";
import type { AuthUser } from "../auth/auth.service.ts";
import { requireRole } from "../auth/guards.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { publish } from "../events/events.service.ts";
import * as items from "../items/items.repository.ts";
import { assertCanCurate } from "../items/items.service.ts";
import * as tags from "./tags.repository.ts";

export async function tagOr404(db: Kysely<DB>, name: string) {
  const tag = await items.findTag(db, name);
  if (!tag) throw new AppError("not_found", `no tag ${name}`);
  return tag;
}

export async function listTags(db: Kysely<DB>) {
  const rows = await items.listTags(db);
  return rows.map((r) => ({ name: r.name, items: Number(r.items ?? 0), rules: Number(r.rules ?? 0), created_at: new Date(r.created_at).toISOString() }));
}

export async function createTag(db: Kysely<DB>, user: AuthUser, name: string) {
  assertCanCurate(user);
  const clean = name.trim();
  if (!clean) throw new AppError("bad_request", "tag is empty");
  const tag = await db.transaction().execute(async (trx) => {
    const t = await items.ensureTag(trx, clean, user.id);
    if (t.created) await publish(trx, { type: "tag.created", data: { tag: t.name, by: user.email } });
    return t;
  });
  return { name: tag.name, created: tag.created };
}

/**
 * A workspace's new order, as dragged by an operator: the listed items first in the given order,
 * members not listed after them in their old order. Reorders of one tag run one at a time (row
 * lock on the tag), and everyone in the workspace gets the whole order in one event.
 */
export async function reorder(db: Kysely<DB>, user: AuthUser, name: string, order: string[]): Promise<{ tag: string; items: string[] }> {
  assertCanCurate(user);
  const tag = await tagOr404(db, name);
  return db.transaction().execute(async (trx) => {
    await tags.lockTag(trx, tag.id);
    const members = await items.tagMembers(trx, tag.id);
    const known = new Set(members.map((m) => m.item_id));
    const first = [...new Set(order)].filter((id) => known.has(id));
    const firstSet = new Set(first);
    const full = [...first, ...members.map((m) => m.item_id).filter((id) => !firstSet.has(id))];
    if (full.length) await tags.setRanks(trx, tag.id, full);
    await publish(trx, { type: "rank.changed", data: { tag: tag.name, items: full, by: user.email } });
    return { tag: tag.name, items: full };
  });
}

export interface RuleView {
  id: string;
  tag: string;
  kind: "geofence" | "keyword";
  keyword: string | null;
  polygon: [number, number][] | null;
  created_at: string;
}

/** Postgres writes a polygon as ((x,y),...) with x = longitude: back to [lat, lng] pairs. */
function parsePolygon(text: string | null): [number, number][] | null {
  if (!text) return null;
  return [...text.matchAll(/\(([-\d.e+]+),([-\d.e+]+)\)/g)].map((m) => [Number(m[2]), Number(m[1])]);
}

export async function listRules(db: Kysely<DB>, name: string): Promise<RuleView[]> {
  const tag = await tagOr404(db, name);
  const rows = await tags.listRules(db, tag.id);
  return rows.map((r) => ({
    id: r.id,
    tag: tag.name,
    kind: r.kind as RuleView["kind"],
    keyword: r.keyword,
    polygon: parsePolygon(r.area),
    created_at: new Date(r.created_at).toISOString(),
  }));
}

/** Admins only. A new rule applies at once to every existing item, then to each new position or text. */
export async function addRule(
  db: Kysely<DB>,
  user: AuthUser,
  name: string,
  rule: { kind: "keyword"; keyword: string } | { kind: "geofence"; polygon: [number, number][] },
): Promise<RuleView> {
  requireRole(user, "admin");
  const clean = name.trim();
  let area: string | null = null;
  let keyword: string | null = null;
  if (rule.kind === "keyword") {
    keyword = rule.keyword.trim();
    if (keyword.length < 2) throw new AppError("bad_request", "keyword must have at least 2 characters");
  } else {
    const pts = rule.polygon;
    if (pts.length < 3) throw new AppError("bad_request", "a geofence needs at least 3 points");
    if (pts.some((p) => p.length !== 2 || Math.abs(p[0]!) > 90 || Math.abs(p[1]!) > 180))
      throw new AppError("bad_request", "geofence points are [lat, lng] pairs");
    area = `(${pts.map(([lat, lng]) => `(${lng},${lat})`).join(",")})`;
  }
  const id = await db.transaction().execute(async (trx) => {
    const tag = await items.ensureTag(trx, clean, user.id);
    if (tag.created) await publish(trx, { type: "tag.created", data: { tag: tag.name, by: user.email } });
    const id = await tags.insertRule(trx, { tagId: tag.id, kind: rule.kind, keyword, area, createdBy: user.id });
    await publish(trx, { type: "rule.created", data: { tag: tag.name, rule_id: id, kind: rule.kind, by: user.email } });
    await tags.autotagAllItems(trx);
    return id;
  });
  return (await listRules(db, clean)).find((r) => r.id === id)!;
}

export async function deleteRule(db: Kysely<DB>, user: AuthUser, name: string, id: string): Promise<void> {
  requireRole(user, "admin");
  const tag = await tagOr404(db, name);
  await db.transaction().execute(async (trx) => {
    if (!(await tags.deleteRule(trx, tag.id, id))) throw new AppError("not_found", "no such rule");
    await publish(trx, { type: "rule.deleted", data: { tag: tag.name, rule_id: id, by: user.email } });
  });
}
