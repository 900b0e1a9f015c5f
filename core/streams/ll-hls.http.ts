import { Elysia, t } from "elysia";
import { requireUser } from "../auth/auth.http.ts";
import { AppError } from "../errors.ts";
import type { ApiContext } from "../runtime.ts";
import type { StreamRow } from "./streams.repository.ts";
import { visibleStream } from "./streams.service.ts";
import { serveObject } from "./serve-object.ts";
import { CMAF_INIT_TYPE, CMAF_SEGMENT_TYPE } from "./cmaf.model.ts";
import { concatObjects, llInit, llPart, llPlaylist, llSegmentParts, parseReload, type LlHlsDeps } from "./ll-hls.service.ts";

const tags = ["streams"];
/** The preload-hinted part is usually a fraction of a second away; a request for it waits this long at most. */
const PART_HOLD_MS = 6_000;
const IMMUTABLE = "private, max-age=31536000, immutable";

export function llHlsDeps(rt: ApiContext): LlHlsDeps {
  return { db: rt.database.db, store: rt.store, waiter: rt.parts, lists: rt.llLists };
}

/** GET …/hls/index.m3u8 of a CMAF stream (the route itself is in streams.http.ts, shared with classic streams). */
export async function cmafPlaylist(
  rt: ApiContext,
  s: { id: string },
  query: Record<string, string | undefined>,
  request: Request,
  set: { headers: Record<string, string | number> },
): Promise<string> {
  const q = parseReload(query);
  const { text, finished } = await llPlaylist(llHlsDeps(rt), s.id, q, request.signal);
  set.headers["content-type"] = "application/vnd.apple.mpegurl";
  // A live list changes with every part; a finished one never again.
  set.headers["cache-control"] = finished ? "private, max-age=3600" : "private, max-age=1";
  return text;
}

const RANGE = /^(\d{1,7})-(\d{1,7})\.m4s$/;
const PART_FILE = /^\d{1,7}\.m4s$/;

/** GET …/hls/segments/{first}-{last}.m4s: the segment's parts as stored, one after the other. */
export async function cmafSegment(rt: ApiContext, s: StreamRow, file: string): Promise<Response> {
  const m = RANGE.exec(file);
  if (!m) throw new AppError("not_found", "no such segment");
  const deps = llHlsDeps(rt);
  const parts = await llSegmentParts(deps, s.id, Number(m[1]), Number(m[2]));
  const size = parts.reduce((a, p) => a + Number(p.size), 0);
  return new Response(
    concatObjects(
      deps.store,
      parts.map((p) => p.object_key),
    ),
    {
      status: 200,
      // Each part's SHA-256 is on its own URL (parts/{seq}.m4s); a segment is only their concatenation.
      headers: { "content-type": CMAF_SEGMENT_TYPE, "content-length": String(size), "cache-control": IMMUTABLE },
    },
  );
}

async function cmafStream(rt: ApiContext, user: Parameters<typeof visibleStream>[1], id: string): Promise<StreamRow> {
  const s = await visibleStream(rt.database.db, user, id);
  if (s.media_format !== "cmaf") throw new AppError("not_found", "this stream is not CMAF (it has MPEG-TS segments)");
  return s;
}

/** The LL-HLS objects only CMAF streams have: the init and the parts. Mounted by streamRoutes (its prefix applies). */
export function llHlsRoutes(rt: ApiContext) {
  return new Elysia({ name: "ll-hls" })
    .use(requireUser(rt))
    .get(
      "/:id/hls/init.mp4",
      async ({ user, params, request }) => {
        const s = await cmafStream(rt, user, params.id);
        const init = await llInit(llHlsDeps(rt), s.id);
        return serveObject(rt.store, init.object_key, {
          contentType: CMAF_INIT_TYPE,
          sha256: init.sha256,
          immutable: true,
          range: request.headers.get("range"),
        });
      },
      {
        params: t.Object({ id: t.String({ format: "uuid" }) }),
        detail: { tags, summary: "The CMAF init segment (ftyp+moov) of an LL-HLS stream (immutable)" },
      },
    )
    .get(
      "/:id/hls/parts/:file",
      async ({ user, params, request }) => {
        const s = await cmafStream(rt, user, params.id);
        // Checked after the stream: whoever may not see it gets the same 404 whatever they ask for.
        if (!PART_FILE.test(params.file)) throw new AppError("not_found", "no such part (parts are {seq}.m4s)");
        const part = await llPart(llHlsDeps(rt), s, Number(params.file.slice(0, -4)), PART_HOLD_MS, request.signal);
        return serveObject(rt.store, part.object_key, {
          contentType: CMAF_SEGMENT_TYPE,
          sha256: part.sha256,
          immutable: true,
          range: request.headers.get("range"),
        });
      },
      {
        params: t.Object({ id: t.String({ format: "uuid" }), file: t.String({ maxLength: 32 }) }),
        detail: { tags, summary: "One LL-HLS part as uploaded (immutable); the next part is waited for briefly" },
      },
    );
}
