import type { Kysely, Transaction } from "kysely";
import type { AuthUser } from "../auth/auth.service.ts";
import type { DB } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { publish } from "../events/events.service.ts";
import type { ObjectStore } from "../storage/store.ts";
import * as repo from "./items.repository.ts";
import type { ItemRow } from "./items.repository.ts";
import { isUuid } from "../ids.ts";

export const MAX_PHOTO_BYTES = 25 * 1024 * 1024;

export type ItemKind = "stream" | "text" | "photo" | "link";

/** Reporters see their own items; everyone else sees all. A hidden item answers 404. */
export function canSee(user: AuthUser, item: { author_id: string }): boolean {
  return user.role !== "reporter" || item.author_id === user.id;
}

export function assertCanCurate(user: AuthUser): void {
  if (user.role !== "operator" && user.role !== "admin") throw new AppError("forbidden", "tagging and ranking need the operator or admin role");
}

export function itemView(r: ItemRow) {
  const stream = r.stream_id
    ? {
        id: r.stream_id,
        state: r.stream_state ?? "live",
        poster_url: r.stream_poster_key ? `/api/v1/streams/${r.stream_id}/poster.jpg` : null,
        playlist_url: `/api/v1/streams/${r.stream_id}/hls/index.m3u8`,
      }
    : null;
  return {
    id: r.id,
    kind: r.kind as ItemKind,
    title: r.title,
    body: r.body,
    url: r.url,
    photo_url: r.photo_key ? `/api/v1/items/${r.id}/photo` : null,
    stream,
    author: { id: r.author_id, email: r.author_email },
    lat: r.lat,
    lng: r.lng,
    heading: r.heading,
    position_at: r.position_at ? new Date(r.position_at).toISOString() : null,
    created_at: new Date(r.created_at).toISOString(),
    tags: r.tags.map((t) => ({ name: t.name, rank: Number(t.rank), auto: Boolean(t.auto) })),
  };
}
export type ItemView = ReturnType<typeof itemView>;

export async function visibleItem(db: Kysely<DB>, user: AuthUser, id: string): Promise<ItemRow> {
  const row = isUuid(id) ? await repo.findItem(db, id) : undefined;
  if (!row || !canSee(user, row)) throw new AppError("not_found", "no such item");
  return row;
}

export async function listVisibleItems(db: Kysely<DB>, user: AuthUser, opts: { tag?: string; limit?: number }): Promise<ItemView[]> {
  let tagId: string | undefined;
  if (opts.tag !== undefined) {
    const tag = await repo.findTag(db, opts.tag);
    // A reporter sees only their own items, so an unknown tag is, for them, a tag with none of
    // their items: the same 200 [] (a 404 would tell them which workspace names exist).
    if (!tag && user.role === "reporter") return [];
    if (!tag) throw new AppError("not_found", `no tag ${opts.tag}`);
    tagId = tag.id;
  }
  const rows = await repo.listItems(db, { authorId: user.role === "reporter" ? user.id : undefined, tagId, limit: opts.limit ?? 300 });
  return rows.map(itemView);
}

function checkUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AppError("bad_request", "url is not a valid URL");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new AppError("bad_request", "url must be http or https");
  return u.toString();
}

function checkPosition(p: { lat?: number; lng?: number }): void {
  if ((p.lat === undefined) !== (p.lng === undefined)) throw new AppError("bad_request", "lat and lng go together");
}

function cleanTags(tags: string[] | undefined): string[] {
  return [...new Set((tags ?? []).map((t) => t.trim()).filter(Boolean))];
}

async function tagInTrx(trx: Transaction<DB>, user: AuthUser, itemId: string, name: string): Promise<boolean> {
  const tag = await repo.ensureTag(trx, name, user.id);
  if (tag.created) await publish(trx, { type: "tag.created", data: { tag: tag.name, by: user.email } });
  const added = await repo.addItemTag(trx, itemId, tag.id, user.id);
  if (added) await publish(trx, { type: "tag.added", data: { item_id: itemId, tag: tag.name, rank: Number(added.rank), auto: false, by: user.email } });
  return Boolean(added);
}

export interface NewItem {
  kind: "text" | "link" | "photo";
  title: string;
  body?: string;
  url?: string;
  lat?: number;
  lng?: number;
  heading?: number;
  tags?: string[];
  photo?: { key: string; type: string; sha256: string };
}

/** Anyone but a viewer may report; the item, its tags and their events commit together. */
export async function createItem(db: Kysely<DB>, user: AuthUser, input: NewItem): Promise<ItemView> {
  if (user.role === "viewer") throw new AppError("forbidden", "viewers cannot create items");
  checkPosition(input);
  const url = input.kind === "link" ? checkUrl(input.url ?? "") : null;
  const title = input.title.trim() || (input.kind === "link" ? url! : input.kind === "photo" ? "Photo" : "");
  if (!title && !(input.body ?? "").trim()) throw new AppError("bad_request", "a text report needs a title or a body");
  const tags = cleanTags(input.tags);
  const id = await db.transaction().execute(async (trx) => {
    const { id } = await repo.insertItem(trx, {
      kind: input.kind,
      author_id: user.id,
      title,
      body: (input.body ?? "").trim(),
      url,
      photo_key: input.photo?.key ?? null,
      photo_type: input.photo?.type ?? null,
      photo_sha256: input.photo?.sha256 ?? null,
      lat: input.lat ?? null,
      lng: input.lng ?? null,
      heading: input.heading ?? null,
    });
    // The workspaces it lands in (its rules' hits and the tags it was sent with), so a console
    // can tell whether the new report is one of its own workspace's without asking.
    const lands = [...new Set([...(await repo.tagNamesOf(trx, id)), ...tags])];
    await publish(trx, { type: "item.created", ownerId: user.id, data: { item_id: id, kind: input.kind, title, by: user.email, tags: lands } });
    for (const t of tags) await tagInTrx(trx, user, id, t);
    return id;
  });
  return itemView((await repo.findItem(db, id))!);
}

const PHOTO_TYPES: Record<string, { ext: string; magic: (b: Uint8Array) => boolean }> = {
  "image/jpeg": { ext: "jpg", magic: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  "image/png": { ext: "png", magic: (b) => b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 },
  "image/webp": { ext: "webp", magic: (b) => String.fromCharCode(...b.slice(0, 4)) === "RIFF" && String.fromCharCode(...b.slice(8, 12)) === "WEBP" },
};

/** A photo report: the bytes are durable in object storage (with their SHA-256) before the item exists. */
export async function createPhoto(
  db: Kysely<DB>,
  store: ObjectStore,
  user: AuthUser,
  contentType: string | null,
  body: ReadableStream<Uint8Array> | null,
  meta: { title?: string; lat?: number; lng?: number; heading?: number },
): Promise<ItemView> {
  if (user.role === "viewer") throw new AppError("forbidden", "viewers cannot create items");
  checkPosition(meta);
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  const spec = PHOTO_TYPES[type];
  if (!spec) throw new AppError("unsupported_media_type", "a photo must be image/jpeg, image/png or image/webp");
  if (!body) throw new AppError("bad_request", "photo body is empty");
  const bytes = new Uint8Array(await new Response(body).arrayBuffer());
  if (bytes.length === 0) throw new AppError("bad_request", "photo body is empty");
  if (bytes.length > MAX_PHOTO_BYTES) throw new AppError("too_large", `photo exceeds ${MAX_PHOTO_BYTES} bytes`);
  if (!spec.magic(bytes)) throw new AppError("unsupported_media_type", `body is not a ${type} file`);
  const key = `items/photos/${crypto.randomUUID()}.${spec.ext}`;
  const put = await store.put(key, bytes, { contentType: type, maxBytes: MAX_PHOTO_BYTES });
  try {
    return await createItem(db, user, {
      kind: "photo",
      title: meta.title ?? "",
      lat: meta.lat,
      lng: meta.lng,
      heading: meta.heading,
      photo: { key, type, sha256: put.sha256 },
    });
  } catch (e) {
    await store.delete(key).catch(() => {});
    throw e;
  }
}

export async function addTag(db: Kysely<DB>, user: AuthUser, itemId: string, name: string): Promise<ItemView> {
  assertCanCurate(user);
  const item = await visibleItem(db, user, itemId);
  const tag = name.trim();
  if (!tag) throw new AppError("bad_request", "tag is empty");
  await db.transaction().execute((trx) => tagInTrx(trx, user, item.id, tag));
  return itemView((await repo.findItem(db, item.id))!);
}

export async function removeTag(db: Kysely<DB>, user: AuthUser, itemId: string, name: string): Promise<ItemView> {
  assertCanCurate(user);
  const item = await visibleItem(db, user, itemId);
  const tag = await repo.findTag(db, name);
  if (tag) {
    await db.transaction().execute(async (trx) => {
      if (await repo.removeItemTag(trx, item.id, tag.id))
        await publish(trx, { type: "tag.removed", data: { item_id: item.id, tag: tag.name, by: user.email } });
    });
  }
  return itemView((await repo.findItem(db, item.id))!);
}
