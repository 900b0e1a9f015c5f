import { Elysia, t } from "elysia";
import { requireUser } from "../auth/auth.http.ts";
import { TagName } from "../items/items.model.ts";
import type { ApiContext } from "../runtime.ts";
import { addRule, createTag, deleteRule, listRules, listTags, reorder } from "./tags.service.ts";

const tags = ["tags"];
const TagParams = t.Object({ name: TagName });
const Rule = t.Object({
  id: t.String(),
  tag: t.String(),
  kind: t.Union([t.Literal("geofence"), t.Literal("keyword")]),
  keyword: t.Union([t.String(), t.Null()]),
  polygon: t.Union([t.Array(t.Tuple([t.Number(), t.Number()])), t.Null()]),
  created_at: t.String(),
});

/** Tags open workspaces: their members in a shared order, and the rules that tag items automatically. */
export function tagRoutes(rt: ApiContext) {
  const db = () => rt.database.db;
  const name = (p: { name: string }) => decodeURIComponent(p.name);
  return new Elysia({ prefix: "/api/v1/tags", name: "tags" })
    .use(requireUser(rt))
    .get("/", () => listTags(db()), {
      response: { 200: t.Array(t.Object({ name: t.String(), items: t.Number(), rules: t.Number(), created_at: t.String() })) },
      detail: { tags, summary: "Every tag with its item and rule counts" },
    })
    .post(
      "/",
      async ({ user, body, set }) => {
        const r = await createTag(db(), user, body.name);
        set.status = r.created ? 201 : 200;
        return r;
      },
      { body: t.Object({ name: TagName }, { additionalProperties: false }), detail: { tags, summary: "Create a tag (a workspace); 200 when it exists" } },
    )
    .put("/:name/order", ({ user, params, body }) => reorder(db(), user, name(params), body.items), {
      params: TagParams,
      body: t.Object({ items: t.Array(t.String({ format: "uuid" }), { maxItems: 5000 }) }, { additionalProperties: false }),
      response: { 200: t.Object({ tag: t.String(), items: t.Array(t.String()) }) },
      detail: { tags, summary: "Set the workspace order: listed items first, others after in their old order" },
    })
    .get("/:name/rules", ({ params }) => listRules(db(), name(params)), {
      params: TagParams,
      response: { 200: t.Array(Rule) },
      detail: { tags, summary: "Automatic tagging rules of a tag" },
    })
    .post(
      "/:name/rules",
      async ({ user, params, body, set }) => {
        set.status = 201;
        return addRule(db(), user, name(params), body);
      },
      {
        params: TagParams,
        body: t.Union([
          t.Object({ kind: t.Literal("keyword"), keyword: t.String({ maxLength: 100 }) }, { additionalProperties: false }),
          t.Object(
            { kind: t.Literal("geofence"), polygon: t.Array(t.Tuple([t.Number(), t.Number()]), { minItems: 3, maxItems: 500 }) },
            { additionalProperties: false },
          ),
        ]),
        response: { 201: Rule },
        detail: { tags, summary: "Admin: add a rule (keyword in title/text, or [lat,lng] polygon around the position); applied to existing items at once" },
      },
    )
    .delete(
      "/:name/rules/:id",
      async ({ user, params, set }) => {
        await deleteRule(db(), user, name(params), params.id);
        set.status = 204;
      },
      { params: t.Object({ name: TagName, id: t.String({ format: "uuid" }) }), detail: { tags, summary: "Admin: remove a rule (tags it added stay)" } },
    );
}
