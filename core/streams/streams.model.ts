import { t } from "elysia";

const Lat = t.Number({ minimum: -90, maximum: 90 });
const Lng = t.Number({ minimum: -180, maximum: 180 });
const Heading = t.Number({ minimum: 0, maximum: 360 });
const Tag = t.String({ minLength: 1, maxLength: 64 });

export const CreateStreamBody = t.Object(
  {
    title: t.Optional(t.String({ maxLength: 200 })),
    lat: t.Optional(Lat),
    lng: t.Optional(Lng),
    heading: t.Optional(Heading),
    tags: t.Optional(t.Array(Tag, { maxItems: 32 })),
  },
  { additionalProperties: false },
);

export const StreamParams = t.Object({ id: t.String({ format: "uuid" }) });
// seq is digits only (no sign, exponent or spaces) and bounded; checked again as a number.
export const ChunkParams = t.Object({ id: t.String({ format: "uuid" }), seq: t.String({ pattern: "^[0-9]{1,7}$" }) });
export const SegmentParams = t.Object({ id: t.String({ format: "uuid" }), file: t.String({ pattern: "^[0-9]{1,7}(\\.ts|-[0-9]{1,7}\\.m4s)$" }) });

/** Capture time: RFC 3339 string or milliseconds since the epoch. */
const CaptureTime = t.Union([t.String({ maxLength: 40 }), t.Number()]);

export const TelemetryBody = t.Object(
  {
    samples: t.Array(
      t.Object(
        {
          t: CaptureTime,
          lat: Lat,
          lng: Lng,
          accuracy: t.Optional(t.Number({ minimum: 0, maximum: 100_000 })),
          heading: t.Optional(Heading),
          speed: t.Optional(t.Number({ minimum: 0, maximum: 1_000 })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 1000 },
    ),
  },
  { additionalProperties: false },
);

export const StreamView = t.Object({
  id: t.String(),
  state: t.Union([t.Literal("live"), t.Literal("finished"), t.Literal("failed")]),
  title: t.String(),
  owner: t.Object({ id: t.String(), email: t.String() }),
  lat: t.Union([t.Number(), t.Null()]),
  lng: t.Union([t.Number(), t.Null()]),
  heading: t.Union([t.Number(), t.Null()]),
  tags: t.Array(t.String()),
  created_at: t.String(),
  finished_at: t.Union([t.String(), t.Null()]),
  chunks: t.Number(),
  segments: t.Number(),
  failed_chunks: t.Array(t.Object({ seq: t.Number(), reason: t.String() })),
  duration: t.Number(),
  playlist_url: t.String(),
  poster_url: t.Union([t.String(), t.Null()]),
  recording: t.Union([t.Object({ url: t.String(), sha256: t.String(), size: t.Number() }), t.Null()]),
  /** Fixed by the first upload: "classic" chunks (segmented by the worker) or "cmaf" parts; null before any. */
  format: t.Union([t.Literal("classic"), t.Literal("cmaf"), t.Null()]),
});

export const ChunkStored = t.Object({ seq: t.Number(), sha256: t.String() });
export const PosterStored = t.Object({ width: t.Number(), height: t.Number() });

export const InitStored = t.Object({
  sha256: t.String(),
  tracks: t.Array(t.Object({ id: t.Number(), kind: t.Union([t.Literal("video"), t.Literal("audio")]), timescale: t.Number(), codec: t.String() })),
});
export const TelemetryResult = t.Object({ accepted: t.Number(), duplicates: t.Number() });
export const TelemetrySample = t.Object({
  t: t.String(),
  lat: t.Number(),
  lng: t.Number(),
  accuracy: t.Union([t.Number(), t.Null()]),
  heading: t.Union([t.Number(), t.Null()]),
  speed: t.Union([t.Number(), t.Null()]),
});
