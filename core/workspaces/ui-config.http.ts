import { Elysia, t } from "elysia";
import type { ApiContext } from "../runtime.ts";
import { MAP_ARCHIVE_PATH } from "./map-archive.http.ts";

/** What the web pages need to know about this installation (no secrets; no sign-in needed). */
export function uiConfigRoutes(rt: ApiContext) {
  return new Elysia({ name: "ui-config" }).get(
    "/api/v1/ui-config",
    () => ({ map_tile_url: rt.config.web.mapTileUrl, map_pmtiles_url: rt.config.web.mapPmtiles ? MAP_ARCHIVE_PATH : null, version: rt.version }),
    {
      response: { 200: t.Object({ map_tile_url: t.Union([t.String(), t.Null()]), map_pmtiles_url: t.Union([t.String(), t.Null()]), version: t.String() }) },
      detail: { tags: ["web"], summary: "Settings of the web pages: map tile URL, offline base map archive (null = none; neither = blank grid)" },
    },
  );
}
