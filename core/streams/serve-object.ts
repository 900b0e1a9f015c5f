import { AppError } from "../errors.ts";
import type { ObjectStore } from "../storage/store.ts";

/** "bytes=a-b" / "bytes=a-" / "bytes=-n" → an inclusive range within size, or null for a whole answer. */
export function parseRange(header: string | null, size: number): { start: number; end: number } | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) throw new AppError("bad_request", "Range must be a single bytes=start-end range");
  let start: number;
  let end: number;
  if (m[1] === "") {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) throw new AppError("bad_request", `Range not satisfiable for ${size} bytes`, { detail: { size } });
  return { start, end };
}

/** Streams a stored object to the client, whole or as one byte range, with cache and integrity headers. */
export async function serveObject(
  store: ObjectStore,
  key: string,
  opts: { contentType: string; sha256?: string; immutable: boolean; range: string | null; filename?: string },
): Promise<Response> {
  const info = await store.stat(key);
  if (!info) throw new AppError("not_found", "the stored object is missing");
  const range = parseRange(opts.range, info.size);
  const headers: Record<string, string> = {
    "content-type": opts.contentType,
    "accept-ranges": "bytes",
    "cache-control": opts.immutable ? "private, max-age=31536000, immutable" : "private, max-age=2",
  };
  if (opts.sha256) headers["x-content-sha256"] = opts.sha256;
  if (opts.filename) headers["content-disposition"] = `attachment; filename="${opts.filename}"`;
  if (range) {
    headers["content-range"] = `bytes ${range.start}-${range.end}/${info.size}`;
    headers["content-length"] = String(range.end - range.start + 1);
    return new Response(await store.get(key, range), { status: 206, headers });
  }
  headers["content-length"] = String(info.size);
  return new Response(await store.get(key), { status: 200, headers });
}
