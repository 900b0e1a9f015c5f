import { stat } from "node:fs/promises";
import { Elysia } from "elysia";
import { AppError } from "../errors.ts";
import type { ApiContext } from "../runtime.ts";
import { parseRange } from "../streams/serve-object.ts";

export const MAP_ARCHIVE_PATH = "/api/v1/map/archive.pmtiles";

/**
 * GET /api/v1/map/archive.pmtiles: the city's PMTiles extract (--map-pmtiles), whole or one byte
 * range; the console's PMTiles reader asks for the header, directories and tiles by range. A base
 * map holds no secrets, and like ui-config it needs no sign-in. The file is read at each request,
 * so replacing it takes effect without a restart (the ETag tells readers it changed).
 */
export function mapArchiveRoutes(rt: ApiContext) {
  const path = rt.config.web.mapPmtiles;
  return new Elysia({ name: "map-archive" }).get(
    MAP_ARCHIVE_PATH,
    async ({ request }) => {
      if (!path) throw new AppError("not_found", "no offline base map is configured (--map-pmtiles)");
      const info = await stat(path).catch(() => null);
      if (!info?.isFile()) throw new AppError("unavailable", "the offline base map file is missing");
      const size = info.size;
      const etag = `"${size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
      const range = parseRange(request.headers.get("range"), size);
      const headers: Record<string, string> = {
        "content-type": "application/vnd.pmtiles",
        "accept-ranges": "bytes",
        etag,
        "cache-control": "public, max-age=300",
      };
      const file = Bun.file(path);
      if (!range) return new Response(file, { headers: { ...headers, "content-length": String(size) } });
      headers["content-range"] = `bytes ${range.start}-${range.end}/${size}`;
      headers["content-length"] = String(range.end - range.start + 1);
      return new Response(file.slice(range.start, range.end + 1), { status: 206, headers });
    },
    { detail: { tags: ["web"], summary: "The offline base map (PMTiles v3), whole or by byte range" } },
  );
}
