import { AppError } from "../errors.ts";

/** The slowest a streamed body may arrive (config.http.upload): see guardedBody. */
export interface UploadPace {
  /** null = no minimum: only the idle timeout cuts a slow body. */
  readonly minBytesPerSecond: number | null;
  readonly graceMs: number;
}

const NO_MINIMUM: UploadPace = { minBytesPerSecond: null, graceMs: 0 };
const TOO_SLOW = Symbol("too slow");

/**
 * A streamed request body whose client hangs up or falls silent mid-upload (Bun then errors the
 * stream) fails as 400 "upload interrupted", not as an unexplained 500: on a reporter's bad
 * network that is the client's weather, not a server fault, and it must not count as one.
 *
 * The idle timeout only cuts a body that goes silent; one trickling a byte every few seconds
 * would hold its connection and upload forever. So once `graceMs` of waiting have passed the body
 * must have arrived at `minBytesPerSecond` on average — N bytes may take graceMs + N / rate —
 * else the read fails with 408 and the consumer (store.put) discards what it has. Only the time
 * spent waiting on the client counts: while our consumer is busy (object storage slow to take a
 * part) the client is held back by TCP, and that must not be blamed on it.
 */
export function guardedBody(body: ReadableStream<Uint8Array> | null, pace: UploadPace = NO_MINIMUM): ReadableStream<Uint8Array> | null {
  if (!body) return null;
  const reader = body.getReader();
  const rate = pace.minBytesPerSecond;
  let received = 0;
  let waitedMs = 0;
  const tooSlow = () =>
    new AppError(
      "request_timeout",
      `the upload arrived slower than ${rate} bytes per second (after a ${pace.graceMs / 1000} s head start): ${received} bytes in ${(waitedMs / 1000).toFixed(1)} s`,
    );
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      const allowMs = rate === null ? Infinity : pace.graceMs + (received * 1000) / rate - waitedMs;
      if (allowMs <= 0) {
        await reader.cancel().catch(() => {});
        throw tooSlow();
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const t0 = performance.now();
      let r: Awaited<ReturnType<typeof reader.read>>;
      try {
        r =
          allowMs === Infinity
            ? await reader.read()
            : await Promise.race([reader.read(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(TOO_SLOW), allowMs)))]);
      } catch (e) {
        if (e !== TOO_SLOW) throw new AppError("bad_request", "the upload was interrupted before its body was complete", { cause: e });
        waitedMs += performance.now() - t0;
        await reader.cancel().catch(() => {});
        throw tooSlow();
      } finally {
        clearTimeout(timer);
      }
      waitedMs += performance.now() - t0;
      if (r.done) return ctrl.close();
      received += r.value.length;
      ctrl.enqueue(r.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}
