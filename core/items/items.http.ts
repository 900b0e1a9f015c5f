import { Elysia, t } from "elysia";
import { requireUser } from "../auth/auth.http.ts";
import { auditView } from "../audit/audit.service.ts";
import { AppError } from "../errors.ts";
import { guardedBody } from "../http/body.ts";
import type { Runtime } from "../runtime.ts";
import { serveObject } from "../streams/serve-object.ts";
import { AddTagBody, CreateItemBody, ItemParams, ItemTagParams, ItemView, ListItemsQuery, PhotoQuery } from "./items.model.ts";
import { addTag, createItem, createPhoto, itemView, listVisibleItems, removeTag, visibleItem } from "./items.service.ts";

const tags = ["items"];

/** Items: every stream, text report, photo and link, with its position and tags. */
export function itemRoutes(rt: Runtime) {
  const db = () => rt.database!.db;
  return new Elysia({ prefix: "/api/v1/items", name: "items" })
    .use(requireUser(db))
    .get("/", ({ user, query }) => listVisibleItems(db(), user, { tag: query.tag, limit: query.limit }), {
      query: ListItemsQuery,
      response: { 200: t.Array(ItemView) },
      detail: { tags, summary: "Items this user may see: newest first, or in a tag's workspace order with ?tag=" },
    })
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
        const item = await createPhoto(db(), rt.store!, user, request.headers.get("content-type"), guardedBody(request.body, rt.config.http.upload), query);
        set.status = 201;
        return item;
      },
      { parse: "none", query: PhotoQuery, response: { 201: ItemView }, detail: { tags, summary: "Create a photo report (raw image/jpeg, image/png or image/webp body)" } },
    )
    .get("/:id", async ({ user, params }) => itemView(await visibleItem(db(), user, params.id)), {
      params: ItemParams,
      response: { 200: ItemView },
      detail: { tags, summary: "One item" },
    })
    .get(
      "/:id/photo",
      async ({ user, params, request }) => {
        const item = await visibleItem(db(), user, params.id);
        if (!item.photo_key) throw new AppError("not_found", "this item has no photo");
        await auditView(db(), { action: "photo.viewed", targetType: "item", targetId: item.id, detail: { sha256: item.photo_sha256 } });
        return serveObject(rt.store!, item.photo_key, { contentType: item.photo_type ?? "application/octet-stream", sha256: item.photo_sha256 ?? undefined, immutable: true, range: request.headers.get("range") });
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
