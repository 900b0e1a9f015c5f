import { Elysia, t } from "elysia";
import { requireUser } from "../auth/auth.http.ts";
import { auditView } from "../audit/audit.service.ts";
import { AppError } from "../errors.ts";
import { guardedBody } from "../http/body.ts";
import { checkIdempotencyKey, withIdempotency } from "../idempotency/idempotency.service.ts";
import type { ApiContext } from "../runtime.ts";
import { serveObject } from "../streams/serve-object.ts";
import {
  AddTagBody,
  CommentBody,
  CommentsQuery,
  CommentView,
  CreateItemBody,
  ItemParams,
  ItemTagParams,
  ItemView,
  ListItemsQuery,
  PatchItemBody,
  PhotoQuery,
} from "./items.model.ts";
import { addComment, listItemComments } from "./comments.service.ts";
import { editItem } from "./item-edit.service.ts";
import { isSearch, searchVisibleItems } from "./search.service.ts";
import { addTag, createItem, createPhoto, itemView, listVisibleItems, removeTag, visibleItem } from "./items.service.ts";

const tags = ["items"];

/** Items: every stream, text report, photo and link, with its position and tags. */
export function itemRoutes(rt: ApiContext) {
  const db = () => rt.database.db;
  return new Elysia({ prefix: "/api/v1/items", name: "items" })
    .use(requireUser(rt))
    .get(
      "/",
      async ({ user, query, set }) => {
        if (!isSearch(query)) return listVisibleItems(db(), user, { tag: query.tag, limit: query.limit });
        const page = await searchVisibleItems(db(), user, query);
        if (page.next_cursor) set.headers["x-next-cursor"] = page.next_cursor;
        return page.items;
      },
      {
        query: ListItemsQuery,
        response: { 200: t.Array(ItemView) },
        detail: {
          tags,
          summary:
            "Items this user may see: newest first, or in a tag's workspace order with ?tag= alone. With any of q, bbox, from, to, reporter, kind or cursor it is a search (all filters ANDed, tag too), newest first; when more match, the X-Next-Cursor header holds the cursor of the next page",
        },
      },
    )
    .post(
      "/",
      async ({ user, body, set }) => {
        set.status = 201;
        return createItem(db(), user, body);
      },
      { body: CreateItemBody, response: { 201: ItemView }, detail: { tags, summary: "Create a text report or a link" } },
    )
    .post(
      "/photos",
      async ({ user, query, request, set }) => {
        const item = await createPhoto(db(), rt.store, user, request.headers.get("content-type"), guardedBody(request.body, rt.config.http.upload), query);
        set.status = 201;
        return item;
      },
      {
        parse: "none",
        query: PhotoQuery,
        response: { 201: ItemView },
        detail: { tags, summary: "Create a photo report (raw image/jpeg, image/png or image/webp body)" },
      },
    )
    .get("/:id", async ({ user, params }) => itemView(await visibleItem(db(), user, params.id)), {
      params: ItemParams,
      response: { 200: ItemView },
      detail: { tags, summary: "One item" },
    })
    .patch("/:id", ({ user, params, body }) => editItem(db(), user, params.id, body), {
      params: ItemParams,
      body: PatchItemBody,
      response: { 200: ItemView },
      detail: {
        tags,
        summary:
          "Change an item's title, body or position (its reporter, operators, admins); 409 while under legal hold; audited as item.edited with old and new values; item.updated event",
      },
    })
    .get("/:id/comments", ({ user, params, query }) => listItemComments(db(), user, params.id, query), {
      params: ItemParams,
      query: CommentsQuery,
      response: { 200: t.Array(CommentView) },
      detail: { tags, summary: "Comments on an item, oldest first (page with ?after=<last id>)" },
    })
    .post(
      "/:id/comments",
      async ({ user, params, body, request, set }) => {
        const key = checkIdempotencyKey(request.headers.get("idempotency-key"));
        const out = await withIdempotency(db(), { userId: user.id, scope: `comment:${params.id}`, key, body }, async () => ({
          status: 201,
          body: await addComment(db(), user, params.id, body.body),
        }));
        set.status = out.status;
        if (out.replayed) set.headers["idempotent-replayed"] = "true";
        return out.body as typeof CommentView.static;
      },
      {
        params: ItemParams,
        body: CommentBody,
        response: { 201: CommentView },
        detail: {
          tags,
          summary: "Comment on an item (Idempotency-Key supported); audited as item.commented; item.commented event, live to everyone who sees the item",
        },
      },
    )
    .get(
      "/:id/photo",
      async ({ user, params, request }) => {
        const item = await visibleItem(db(), user, params.id);
        if (!item.photo_key) throw new AppError("not_found", "this item has no photo");
        await auditView(db(), rt.views, { action: "photo.viewed", targetType: "item", targetId: item.id, detail: { sha256: item.photo_sha256 } });
        return serveObject(rt.store, item.photo_key, {
          contentType: item.photo_type ?? "application/octet-stream",
          sha256: item.photo_sha256 ?? undefined,
          immutable: true,
          range: request.headers.get("range"),
        });
      },
      { params: ItemParams, detail: { tags, summary: "The photo of a photo item" } },
    )
    .post("/:id/tags", ({ user, params, body }) => addTag(db(), user, params.id, body.tag), {
      params: ItemParams,
      body: AddTagBody,
      response: { 200: ItemView },
      detail: { tags, summary: "Tag an item (the tag is created when new); it joins the end of the tag's workspace order" },
    })
    .delete("/:id/tags/:tag", ({ user, params }) => removeTag(db(), user, params.id, decodeURIComponent(params.tag)), {
      params: ItemTagParams,
      response: { 200: ItemView },
      detail: { tags, summary: "Remove a tag from an item" },
    });
}
