import { describe, expect, test } from "bun:test";
import type { AppError } from "../errors.ts";
import { guardedBody } from "./body.ts";

/** A body that yields `parts` byte arrays, waiting `gapMs` before each (as a slow client would). */
function source(parts: number, size: number, gapMs: number): ReadableStream<Uint8Array> {
  let n = 0;
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      if (gapMs) await Bun.sleep(gapMs);
      if (n++ === parts) return ctrl.close();
      ctrl.enqueue(new Uint8Array(size).fill(1));
    },
  });
}

async function drain(body: ReadableStream<Uint8Array>, consumerPauseMs = 0): Promise<number> {
  let total = 0;
  for await (const c of body) {
    total += c.length;
    if (consumerPauseMs) await Bun.sleep(consumerPauseMs);
  }
  return total;
}

describe("guardedBody", () => {
  test("a body trickling in below the minimum rate fails with 408 once the head start is used up", async () => {
    const err = (await drain(guardedBody(source(1000, 1, 40), { minBytesPerSecond: 1000, graceMs: 150 })!).catch((e) => e)) as AppError;
    expect(err.code).toBe("request_timeout");
    expect(err.status).toBe(408);
    expect(err.message).toMatch(/slower than 1000 bytes per second/);
  });

  test("a body that keeps the rate passes whole; without a minimum a slow one does too", async () => {
    expect(await drain(guardedBody(source(50, 4096, 1), { minBytesPerSecond: 1000, graceMs: 150 })!)).toBe(50 * 4096);
    expect(await drain(guardedBody(source(8, 1, 40), { minBytesPerSecond: null, graceMs: 0 })!)).toBe(8);
    expect(await drain(guardedBody(source(8, 1, 40))!)).toBe(8);
  });

  test("time our own consumer spends busy is not blamed on the client", async () => {
    // The client has every byte ready at once; we take 60 ms per read, far past the head start.
    expect(await drain(guardedBody(source(8, 1, 0), { minBytesPerSecond: 1, graceMs: 100 })!, 60)).toBe(8);
  });

  test("a client that hangs up mid-body is a 400, not a 500", async () => {
    let sent = false;
    const broken = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        if (sent) return ctrl.error(new Error("socket closed"));
        sent = true;
        ctrl.enqueue(new Uint8Array(10));
      },
    });
    const err = (await drain(guardedBody(broken, { minBytesPerSecond: 1000, graceMs: 1000 })!).catch((e) => e)) as AppError;
    expect(err.code).toBe("bad_request");
    expect(guardedBody(null)).toBeNull();
  });
});
