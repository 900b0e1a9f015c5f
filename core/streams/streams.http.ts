import { Elysia, t } from "elysia";
import { requireUser } from "../auth/auth.http.ts";
import { auditView } from "../audit/audit.service.ts";
import { AppError } from "../errors.ts";
import { guardedBody } from "../http/body.ts";
import { checkIdempotencyKey, withIdempotency } from "../idempotency/idempotency.service.ts";
import type { ApiContext } from "../runtime.ts";
import { ingestChunk } from "./chunks.service.ts";
import { ingestCmafChunk, ingestInit, isCmafChunk } from "./cmaf-ingest.service.ts";
import { uploadPoster } from "./poster-upload.service.ts";
import { buildPlaylist } from "./playlist.ts";
import * as repo from "./streams.repository.ts";
import {
  ChunkParams,
  ChunkStored,
  CreateStreamBody,
  InitStored,
  PosterStored,
  SegmentParams,
  StreamParams,
  StreamView,
  TelemetryBody,
  TelemetryResult,
  TelemetrySample,
} from "./streams.model.ts";
import { addTelemetry, createStream, finishStream, streamView, visibleStream } from "./streams.service.ts";
import { serveObject } from "./serve-object.ts";
import { assertCanView } from "./access.ts";
import { cmafPlaylist, cmafSegment, llHlsRoutes } from "./ll-hls.http.ts";

const tags = ["streams"];

/** Live video ingest and playback, per API-CONTRACT.md. Any API node answers any request. */
export function streamRoutes(rt: ApiContext) {
  const db = () => rt.database.db;
  const store = () => rt.store;
  return new Elysia({ prefix: "/api/v1/streams", name: "streams" })
    .use(requireUser(rt))
    .use(llHlsRoutes(rt))
    .post(
      "/",
      async ({ user, body, request, set }) => {
        const key = checkIdempotencyKey(request.headers.get("idempotency-key"));
        const out = await withIdempotency(db(), { userId: user.id, scope: "create_stream", key, body }, async () => {
          const id = await createStream(db(), user, body);
          return { status: 201, body: await streamView(db(), (await repo.findStream(db(), id))!) };
        });
        set.status = out.status;
        if (out.replayed) set.headers["idempotent-replayed"] = "true";
        return out.body as typeof StreamView.static;
      },
      { body: CreateStreamBody, response: { 201: StreamView }, detail: { tags, summary: "Start a stream (Idempotency-Key supported)" } },
    )
    .get(
      "/",
      async ({ user, query }) => {
        const rows = await repo.listStreams(db(), { ownerId: user.role === "reporter" ? user.id : undefined, state: query.state, limit: query.limit ?? 100 });
        return Promise.all(rows.map((s) => streamView(db(), s)));
      },
      {
        query: t.Object({
          state: t.Optional(t.Union([t.Literal("live"), t.Literal("finished"), t.Literal("failed")])),
          limit: t.Optional(t.Integer({ minimum: 1, maximum: 500 })),
        }),
        response: { 200: t.Array(StreamView) },
        detail: { tags, summary: "Streams this user may see, newest first" },
      },
    )
    .get("/:id", async ({ user, params }) => streamView(db(), await visibleStream(db(), user, params.id)), {
      params: StreamParams,
      response: { 200: StreamView },
      detail: { tags, summary: "A stream's state, counts and links" },
    })
    .put(
      "/:id/init",
      async ({ user, params, request, set }) => {
        const r = await ingestInit(db(), store(), user, {
          streamId: params.id,
          contentType: request.headers.get("content-type"),
          contentLength: request.headers.get("content-length"),
          body: guardedBody(request.body, rt.config.http.upload),
        });
        set.status = r.status;
        return { sha256: r.sha256, tracks: r.tracks };
      },
      {
        parse: "none",
        params: StreamParams,
        response: { 200: InitStored, 201: InitStored },
        detail: {
          tags,
          summary: "Upload the CMAF init segment (video/mp4: ftyp+moov; 201 stored, 200 identical retry, 409 different bytes or a classic stream)",
        },
      },
    )
    .put(
      "/:id/chunks/:seq",
      async ({ user, params, request, set }) => {
        const contentType = request.headers.get("content-type");
        const up = {
          streamId: params.id,
          seq: params.seq,
          contentType,
          contentLength: request.headers.get("content-length"),
          chunkStart: request.headers.get("x-chunk-start"),
          body: guardedBody(request.body, rt.config.http.upload),
        };
        const r = isCmafChunk(contentType)
          ? await ingestCmafChunk(db(), store(), user, up, { maxBytes: rt.config.ingest.maxChunkBytes, inits: rt.cmafInits })
          : await ingestChunk(db(), store(), user, up, rt.config.ingest.maxChunkBytes);
        set.status = r.status;
        return { seq: r.seq, sha256: r.sha256 };
      },
      {
        parse: "none",
        params: ChunkParams,
        response: { 200: ChunkStored, 201: ChunkStored },
        detail: {
          tags,
          summary: "Upload chunk {seq} (raw media body, or a CMAF fragment as video/iso.segment; 201 stored, 200 identical retry, 409 different bytes)",
        },
      },
    )
    .put(
      "/:id/poster",
      async ({ user, params, request }) =>
        uploadPoster(db(), store(), user, {
          streamId: params.id,
          contentType: request.headers.get("content-type"),
          contentLength: request.headers.get("content-length"),
          body: guardedBody(request.body, rt.config.http.upload),
        }),
      {
        parse: "none",
        params: StreamParams,
        response: { 200: PosterStored },
        detail: {
          tags,
          summary: "The live grid's still from the phone (image/jpeg, at most 256 KiB and 1920 px a side; not evidence): while these arrive no poster job runs",
        },
      },
    )
    .post("/:id/telemetry", async ({ user, params, body }) => addTelemetry(db(), user, params.id, body.samples), {
      params: StreamParams,
      body: TelemetryBody,
      response: { 200: TelemetryResult },
      detail: { tags, summary: "Position and heading samples (deduplicated by capture time t)" },
    })
    .get(
      "/:id/telemetry",
      async ({ user, params, query }) => {
        const s = await visibleStream(db(), user, params.id);
        const rows = await repo.listTelemetry(db(), s.id, query.limit ?? 10_000);
        return rows.map((r) => ({ t: new Date(r.t).toISOString(), lat: r.lat, lng: r.lng, accuracy: r.accuracy, heading: r.heading, speed: r.speed }));
      },
      {
        params: StreamParams,
        query: t.Object({ limit: t.Optional(t.Integer({ minimum: 1, maximum: 100_000 })) }),
        response: { 200: t.Array(TelemetrySample) },
        detail: { tags, summary: "The stream's track, in time order" },
      },
    )
    .post("/:id/finish", async ({ user, params }) => streamView(db(), await finishStream(db(), user, params.id)), {
      params: StreamParams,
      response: { 200: StreamView },
      detail: { tags, summary: "End the stream (idempotent); the recording is assembled in the background" },
    })
    .get(
      "/:id/hls/index.m3u8",
      async ({ user, params, query, request, set }) => {
        // A player reloads a CMAF list several times a second: once this node has seen the stream,
        // its owner is all the access rule needs (ll-hls.service.ts LlListCache.knownCmaf).
        const known = rt.llLists.knownCmaf(params.id);
        if (known) {
          assertCanView(user, known);
          await auditView(db(), rt.views, { action: "stream.viewed", targetType: "stream", targetId: known.id });
          return cmafPlaylist(rt, known, query, request, set);
        }
        const s = await visibleStream(db(), user, params.id);
        await auditView(db(), rt.views, { action: "stream.viewed", targetType: "stream", targetId: s.id });
        // CMAF streams get Low-Latency HLS (parts, blocking reload); classic ones this list of TS segments.
        if (s.media_format === "cmaf") {
          rt.llLists.rememberCmaf(s);
          return cmafPlaylist(rt, s, query, request, set);
        }
        const complete = s.state !== "live" && (await repo.allChunksSettled(db(), s.id));
        const segments = await repo.listSegments(db(), s.id, { includeLate: complete });
        set.headers["content-type"] = "application/vnd.apple.mpegurl";
        // Live lists change every segment; a finished one never again.
        set.headers["cache-control"] = complete ? "private, max-age=3600" : "private, max-age=1";
        return buildPlaylist({
          complete,
          defaultTargetSec: 2,
          segments: segments.map((g, i) => ({
            seq: g.seq,
            duration: g.duration,
            programDateTime: new Date(g.program_date_time),
            // A late segment sits out of place in the timeline: mark both of its edges.
            discontinuity: g.discontinuity || g.late || (i > 0 && segments[i - 1]!.late),
          })),
        });
      },
      {
        params: StreamParams,
        query: t.Object({
          _HLS_msn: t.Optional(t.String({ maxLength: 12 })),
          _HLS_part: t.Optional(t.String({ maxLength: 12 })),
          _HLS_skip: t.Optional(t.String({ maxLength: 12 })),
        }),
        detail: {
          tags,
          summary:
            "HLS media playlist of the segments made so far (LL-HLS for CMAF streams: _HLS_msn/_HLS_part block until that part is listed; _HLS_skip is ignored, the whole list is sent)",
        },
      },
    )
    .get(
      "/:id/hls/segments/:file",
      async ({ user, params, request }) => {
        const s = await visibleStream(db(), user, params.id);
        // By extension: .ts for classic streams, {first}-{last}.m4s (a run of parts) for CMAF ones.
        if ((s.media_format === "cmaf") !== params.file.endsWith(".m4s")) throw new AppError("not_found", "no such segment");
        if (s.media_format === "cmaf") return cmafSegment(rt, s, params.file);
        const seg = await repo.findSegment(db(), s.id, Number(params.file.slice(0, -3)));
        if (!seg) throw new AppError("not_found", "no such segment");
        return serveObject(store(), seg.object_key, { contentType: "video/mp2t", sha256: seg.sha256, immutable: true, range: request.headers.get("range") });
      },
      {
        params: SegmentParams,
        detail: { tags, summary: "One segment (immutable): MPEG-TS {n}.ts, or for CMAF streams {first}-{last}.m4s, its parts concatenated" },
      },
    )
    .get(
      "/:id/poster.jpg",
      async ({ user, params }) => {
        const s = await visibleStream(db(), user, params.id);
        if (!s.poster_key) throw new AppError("not_found", "no poster yet");
        return serveObject(store(), s.poster_key, { contentType: "image/jpeg", immutable: false, range: null });
      },
      { params: StreamParams, detail: { tags, summary: "Latest still frame of the stream" } },
    )
    .get(
      "/:id/recording.mp4",
      async ({ user, params, request }) => {
        const s = await visibleStream(db(), user, params.id);
        if (!s.recording_key)
          throw new AppError("not_found", s.state === "live" ? "the stream is still live" : "the recording is not ready yet", {
            retryAfterSeconds: s.state === "live" ? undefined : 5,
          });
        // Byte-range players ask many times for one viewing: one record per user and few minutes.
        await auditView(db(), rt.views, { action: "recording.downloaded", targetType: "stream", targetId: s.id, detail: { sha256: s.recording_sha256 } });
        return serveObject(store(), s.recording_key, {
          contentType: "video/mp4",
          sha256: s.recording_sha256 ?? undefined,
          immutable: true,
          range: request.headers.get("range"),
          filename: `rter-${s.id}.mp4`,
        });
      },
      { params: StreamParams, detail: { tags, summary: "The whole stream as one MP4 (faststart), with its SHA-256" } },
    );
}
