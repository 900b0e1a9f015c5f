import { t } from "elysia";
import { UUID_CURSOR_PATTERN } from "../http/schema.ts";

const Lat = t.Number({ minimum: -90, maximum: 90 });
const Lng = t.Number({ minimum: -180, maximum: 180 });
const Heading = t.Number({ minimum: 0, maximum: 360 });
export const TagName = t.String({ minLength: 1, maxLength: 64, pattern: "^[^/\\s][^/]*$" });

export const ItemParams = t.Object({ id: t.String({ format: "uuid" }) });
export const ItemTagParams = t.Object({ id: t.String({ format: "uuid" }), tag: TagName });

/** Text reports and links; photos arrive as raw bytes on POST /items/photos. */
export const CreateItemBody = t.Object(
  {
    kind: t.Union([t.Literal("text"), t.Literal("link")]),
    title: t.String({ maxLength: 200 }),
    body: t.Optional(t.String({ maxLength: 10_000 })),
    url: t.Optional(t.String({ maxLength: 2_000 })),
    lat: t.Optional(Lat),
    lng: t.Optional(Lng),
    heading: t.Optional(Heading),
    tags: t.Optional(t.Array(TagName, { maxItems: 32 })),
  },
  { additionalProperties: false },
);

export const PhotoQuery = t.Object({
  title: t.Optional(t.String({ maxLength: 200 })),
  lat: t.Optional(t.Numeric({ minimum: -90, maximum: 90 })),
  lng: t.Optional(t.Numeric({ minimum: -180, maximum: 180 })),
  heading: t.Optional(t.Numeric({ minimum: 0, maximum: 360 })),
});

export const ListItemsQuery = t.Object({
  tag: t.Optional(TagName),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 1000 })),
  // Any of these makes the listing a search: newest first, next page in the X-Next-Cursor header.
  q: t.Optional(t.String({ minLength: 1, maxLength: 200, description: "words over titles, bodies and comments (Postgres full text, websearch syntax)" })),
  bbox: t.Optional(t.String({ maxLength: 100, description: "west,south,east,north in degrees: items whose position is inside" })),
  from: t.Optional(t.String({ format: "date-time", description: "created at or after" })),
  to: t.Optional(t.String({ format: "date-time", description: "created before" })),
  reporter: t.Optional(t.String({ minLength: 1, maxLength: 254, description: "author: user id or email" })),
  kind: t.Optional(t.Union([t.Literal("stream"), t.Literal("text"), t.Literal("photo"), t.Literal("link")])),
  cursor: t.Optional(t.String({ maxLength: 100, pattern: UUID_CURSOR_PATTERN, description: "X-Next-Cursor of the previous page" })),
});

/** Title, body and position of an item; null lat/lng clears the position. */
export const PatchItemBody = t.Object(
  {
    title: t.Optional(t.String({ maxLength: 200 })),
    body: t.Optional(t.String({ maxLength: 10_000 })),
    lat: t.Optional(t.Union([Lat, t.Null()])),
    lng: t.Optional(t.Union([Lng, t.Null()])),
    heading: t.Optional(t.Union([Heading, t.Null()])),
  },
  { additionalProperties: false },
);

export const CommentBody = t.Object({ body: t.String({ minLength: 1, maxLength: 4_000 }) }, { additionalProperties: false });
export const CommentsQuery = t.Object({
  after: t.Optional(t.String({ format: "uuid", description: "id of the last comment of the previous page" })),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 500 })),
});
export const CommentView = t.Object({
  id: t.String(),
  item_id: t.String(),
  author: t.Object({ id: t.String(), email: t.String() }),
  body: t.String(),
  created_at: t.String(),
});

export const AddTagBody = t.Object({ tag: TagName }, { additionalProperties: false });

export const ItemView = t.Object({
  id: t.String(),
  kind: t.Union([t.Literal("stream"), t.Literal("text"), t.Literal("photo"), t.Literal("link")]),
  title: t.String(),
  body: t.String(),
  url: t.Union([t.String(), t.Null()]),
  photo_url: t.Union([t.String(), t.Null()]),
  stream: t.Union([t.Object({ id: t.String(), state: t.String(), poster_url: t.Union([t.String(), t.Null()]), playlist_url: t.String() }), t.Null()]),
  author: t.Object({ id: t.String(), email: t.String() }),
  lat: t.Union([t.Number(), t.Null()]),
  lng: t.Union([t.Number(), t.Null()]),
  heading: t.Union([t.Number(), t.Null()]),
  position_at: t.Union([t.String(), t.Null()]),
  created_at: t.String(),
  tags: t.Array(t.Object({ name: t.String(), rank: t.Number(), auto: t.Boolean() })),
});
