import { AppError } from "../errors.ts";
import { startsWithEbml } from "../media/media-info.ts";

/** The containers a chunk may come in, by the Content-Type that names them. */
export type Container = "webm" | "matroska" | "mp4" | "mpegts";

const BY_TYPE: Record<string, Container> = {
  "video/webm": "webm",
  "audio/webm": "webm",
  "video/x-matroska": "matroska",
  "video/matroska": "matroska",
  "video/mp4": "mp4",
  "video/quicktime": "mp4",
  "video/mp2t": "mpegts",
  "video/mpeg-ts": "mpegts",
};

export const EXTENSION: Record<Container, string> = { webm: "webm", matroska: "mkv", mp4: "mp4", mpegts: "ts" };

/** Media type parameters (codecs=…) are allowed; the base type must be one we take. */
export function containerOf(contentType: string | null): Container {
  const base = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  const c = BY_TYPE[base];
  if (!c) {
    throw new AppError(
      "unsupported_media_type",
      contentType
        ? `chunks must be ${Object.keys(BY_TYPE).join(", ")}; got ${base || "(empty)"}`
        : "Content-Type is required and must name the chunk's container",
    );
  }
  return c;
}

/**
 * Cheap check of the first bytes against the declared container, so text or garbage labelled
 * video/mp4 is refused at the door (415) instead of becoming a failed job.
 */
export function sniffMatches(container: Container, head: Uint8Array): boolean {
  if (head.length < 12) return false;
  switch (container) {
    case "webm":
    case "matroska":
      return startsWithEbml(head);
    case "mp4": {
      const box = String.fromCharCode(head[4]!, head[5]!, head[6]!, head[7]!);
      return ["ftyp", "moov", "mdat", "free", "wide", "skip"].includes(box);
    }
    case "mpegts":
      return head[0] === 0x47 && (head.length < 189 || head[188] === 0x47); // sync bytes every 188
  }
}

export const SNIFF_BYTES = 189;
