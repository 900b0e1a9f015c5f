import { AppError } from "../errors.ts";

/**
 * A streamed request body whose client hangs up or falls silent mid-upload (Bun then errors the
 * stream) fails as 400 "upload interrupted", not as an unexplained 500: on a reporter's bad
 * network that is the client's weather, not a server fault, and it must not count as one.
 */
export function guardedBody(body: ReadableStream<Uint8Array> | null): ReadableStream<Uint8Array> | null {
  if (!body) return null;
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      let r: Awaited<ReturnType<typeof reader.read>>;
      try {
        r = await reader.read();
      } catch (e) {
        throw new AppError("bad_request", "the upload was interrupted before its body was complete", { cause: e });
      }
      if (r.done) ctrl.close();
      else ctrl.enqueue(r.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}
