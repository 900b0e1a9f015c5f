import type { Kysely } from "kysely";
import type { AuthUser } from "../auth/auth.service.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { isUuid } from "../ids.ts";
import { findTag } from "./items.repository.ts";
import { itemView, type ItemView } from "./items.service.ts";
import { searchItems } from "./search.repository.ts";

export interface SearchQuery {
  q?: string;
  bbox?: string;
  from?: string;
  to?: string;
  reporter?: string;
  kind?: string;
  tag?: string;
  cursor?: string;
  limit?: number;
}

/** Parameters that turn the items listing into a search (newest first, paged by cursor). */
export const SEARCH_PARAMS = ["q", "bbox", "from", "to", "reporter", "kind", "cursor"] as const;

export function isSearch(q: SearchQuery): boolean {
  return SEARCH_PARAMS.some((k) => q[k] !== undefined);
}

/** "west,south,east,north" in degrees (WGS 84), as a map's bounds give it. */
export function parseBbox(v: string): { west: number; south: number; east: number; north: number } {
  const parts = v.split(",");
  if (parts.length !== 4 || parts.some((p) => !/^\s*-?\d+(\.\d+)?\s*$/.test(p)))
    throw new AppError("bad_request", "bbox is west,south,east,north in decimal degrees");
  const [west, south, east, north] = parts.map(Number) as [number, number, number, number];
  if (west < -180 || east > 180 || west > 180 || east < -180) throw new AppError("bad_request", "bbox longitudes must be within -180..180");
  if (south < -90 || north > 90 || south > 90 || north < -90) throw new AppError("bad_request", "bbox latitudes must be within -90..90");
  if (south > north) throw new AppError("bad_request", "bbox south is north of its north");
  if (west > east) throw new AppError("bad_request", "bbox west is east of its east (boxes across the antimeridian are not supported)");
  return { west, south, east, north };
}

function time(v: string | undefined, name: string): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new AppError("bad_request", `${name} must be an RFC 3339 time`);
  return d;
}

/**
 * Items matching every filter given: words (Postgres full text over titles, bodies and
 * comments), map bounds, creation window, reporter, kind, tag. Reporters search only their own.
 * Newest first; `next_cursor` continues after the last one.
 */
export async function searchVisibleItems(db: Kysely<DB>, user: AuthUser, q: SearchQuery): Promise<{ items: ItemView[]; next_cursor: string | null }> {
  const words = q.q?.trim();
  if (q.q !== undefined && !words) throw new AppError("bad_request", "q is empty");
  const from = time(q.from, "from");
  const to = time(q.to, "to");
  if (from && to && from > to) throw new AppError("bad_request", "from is after to");
  const bbox = q.bbox !== undefined ? parseBbox(q.bbox) : undefined;
  let tagId: string | undefined;
  if (q.tag !== undefined) {
    const tag = await findTag(db, q.tag);
    // As in the plain listing: for a reporter an unknown workspace is one without their items.
    if (!tag && user.role === "reporter") return { items: [], next_cursor: null };
    if (!tag) throw new AppError("not_found", `no tag ${q.tag}`);
    tagId = tag.id;
  }
  const before = q.cursor ? { createdUs: q.cursor.split("_")[0]!, id: q.cursor.split("_")[1]!.toLowerCase() } : undefined;
  const limit = q.limit ?? 100;
  const reporter = q.reporter?.trim();
  const rows = await searchItems(db, {
    q: words,
    bbox,
    from,
    to,
    reporterId: reporter && isUuid(reporter) ? reporter : undefined,
    reporterEmail: reporter && !isUuid(reporter) ? reporter : undefined,
    kind: q.kind,
    tagId,
    authorId: user.role === "reporter" ? user.id : undefined,
    before,
    limit: limit + 1,
  });
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { items: page.map(itemView), next_cursor: rows.length > limit && last ? `${last.created_us}_${last.id}` : null };
}
