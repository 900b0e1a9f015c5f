import { AppError } from "../errors.ts";

/**
 * An upload's whole body in memory, for the small ones checked before they are stored (a CMAF
 * init or part, a poster still): 413 past maxBytes, counting as the bytes arrive (a lying or
 * missing Content-Length changes nothing), and 400 when empty.
 */
export async function readBody(body: ReadableStream<Uint8Array> | null, contentLength: string | null, maxBytes: number, what: string): Promise<Uint8Array> {
  if (contentLength !== null && Number(contentLength) > maxBytes) throw new AppError("too_large", `${what} exceeds ${maxBytes} bytes`);
  if (!body) throw new AppError("bad_request", `${what} body is empty`);
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > maxBytes) throw new AppError("too_large", `${what} exceeds ${maxBytes} bytes`);
    parts.push(c);
  }
  if (n === 0) throw new AppError("bad_request", `${what} body is empty`);
  const out = new Uint8Array(n);
  let p = 0;
  for (const c of parts) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}
