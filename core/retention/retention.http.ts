import { Elysia, t } from "elysia";
import { BodyInt } from "../http/schema.ts";
import { requireUser } from "../auth/auth.http.ts";
import { requireRole, requireStaff } from "../auth/guards.ts";
import type { ApiContext } from "../runtime.ts";
import { TagName } from "../items/items.model.ts";
import { holdTargetOfItem, listHolds, placeHold, releaseHold } from "./holds.service.ts";
import { clearWorkspaceRetention, deleteItem, deleteStream, setRetention, setWorkspaceRetention } from "./retention.service.ts";

const StreamParams = t.Object({ id: t.String({ format: "uuid" }) });
const ItemParams = t.Object({ id: t.String({ format: "uuid" }) });
const TagParams = t.Object({ name: TagName });
const KeepDays = t.Union([BodyInt({ minimum: 1, maximum: 100 * 365 }), t.Null()]);
const Reason = t.String({ minLength: 1, maxLength: 500, pattern: "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]+$" });
const HoldView = t.Object({
  id: t.String(),
  stream_id: t.Union([t.String(), t.Null()]),
  item_id: t.Union([t.String(), t.Null()]),
  reason: t.String(),
  placed_by: t.Union([t.String(), t.Null()]),
  placed_at: t.String(),
  released_by: t.Union([t.String(), t.Null()]),
  released_at: t.Union([t.String(), t.Null()]),
  release_reason: t.Union([t.String(), t.Null()]),
});

/** Deleting streams and items, legal holds, and retention per stream and per workspace. */
export function retentionRoutes(rt: ApiContext) {
  const db = () => rt.database.db;
  const deps = () => ({ db: db(), store: rt.store, log: rt.log });
  const tags = ["retention"];
  return new Elysia({ name: "retention" })
    .use(requireUser(rt))
    .delete(
      "/api/v1/streams/:id",
      async ({ user, params, set }) => {
        requireRole(user, "admin");
        await deleteStream(deps(), params.id, "admin");
        set.status = 204;
      },
      { params: StreamParams, detail: { tags, summary: "Delete a stream: its rows, then its objects; 409 while it is under legal hold (for every role)" } },
    )
    .post(
      "/api/v1/streams/:id/hold",
      async ({ user, params, body, set }) => {
        requireStaff(user);
        set.status = 201;
        return placeHold(db(), user, { stream_id: params.id }, body.reason);
      },
      {
        params: StreamParams,
        body: t.Object({ reason: Reason }, { additionalProperties: false }),
        response: { 201: HoldView },
        detail: { tags, summary: "Place a legal hold: nothing of the stream can be deleted until released" },
      },
    )
    .delete(
      "/api/v1/streams/:id/hold",
      ({ user, params, query }) => {
        requireRole(user, "admin");
        return releaseHold(db(), user, { stream_id: params.id }, query.reason ?? null);
      },
      {
        params: StreamParams,
        query: t.Object({ reason: t.Optional(Reason) }),
        response: { 200: HoldView },
        detail: { tags, summary: "Release the stream's legal hold (the record stays)" },
      },
    )
    .put(
      "/api/v1/streams/:id/retention",
      ({ user, params, body }) => {
        requireRole(user, "admin");
        return setRetention(db(), user, params.id, body.keep_days);
      },
      {
        params: StreamParams,
        body: t.Object({ keep_days: KeepDays }, { additionalProperties: false }),
        response: { 200: t.Object({ stream_id: t.String(), keep_days: t.Union([t.Number(), t.Null()]) }) },
        detail: { tags, summary: "Keep this stream N days after it finished (null = forever), instead of --retention" },
      },
    )
    .delete(
      "/api/v1/items/:id",
      async ({ user, params, set }) => {
        requireRole(user, "admin");
        await deleteItem(deps(), params.id, "admin");
        set.status = 204;
      },
      {
        params: ItemParams,
        detail: { tags, summary: "Delete an item (a stream's item: the whole stream) and its photo; 409 while it is under legal hold (for every role)" },
      },
    )
    .post(
      "/api/v1/items/:id/hold",
      async ({ user, params, body, set }) => {
        requireStaff(user);
        set.status = 201;
        return placeHold(db(), user, await holdTargetOfItem(db(), params.id), body.reason);
      },
      {
        params: ItemParams,
        body: t.Object({ reason: Reason }, { additionalProperties: false }),
        response: { 201: HoldView },
        detail: { tags, summary: "Place a legal hold on an item (a stream's item: on its stream)" },
      },
    )
    .delete(
      "/api/v1/items/:id/hold",
      async ({ user, params, query }) => {
        requireRole(user, "admin");
        return releaseHold(db(), user, await holdTargetOfItem(db(), params.id), query.reason ?? null);
      },
      {
        params: ItemParams,
        query: t.Object({ reason: t.Optional(Reason) }),
        response: { 200: HoldView },
        detail: { tags, summary: "Release the item's legal hold (the record stays)" },
      },
    )
    .put(
      "/api/v1/tags/:name/retention",
      ({ user, params, body }) => {
        requireRole(user, "admin");
        return setWorkspaceRetention(db(), user, decodeURIComponent(params.name), body.keep_days);
      },
      {
        params: TagParams,
        body: t.Object({ keep_days: KeepDays }, { additionalProperties: false }),
        response: { 200: t.Object({ tag: t.String(), keep_days: t.Union([t.Number(), t.Null()]) }) },
        detail: { tags, summary: "Keep this workspace's items N days (null = forever) instead of --retention; a stream's own setting still wins" },
      },
    )
    .delete(
      "/api/v1/tags/:name/retention",
      async ({ user, params, set }) => {
        requireRole(user, "admin");
        await clearWorkspaceRetention(db(), user, decodeURIComponent(params.name));
        set.status = 204;
      },
      { params: TagParams, detail: { tags, summary: "The workspace's items follow --retention again" } },
    )
    .get(
      "/api/v1/admin/holds",
      ({ user, query }) => {
        requireStaff(user);
        return listHolds(db(), query.all ?? false);
      },
      {
        query: t.Object({ all: t.Optional(t.Boolean()) }),
        response: { 200: t.Array(HoldView) },
        detail: { tags: ["admin"], summary: "Legal holds in force (all=true: released ones too)" },
      },
    );
}
