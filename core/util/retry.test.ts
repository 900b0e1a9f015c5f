import { expect, test } from "bun:test";
import { retry } from "./retry.ts";
import { withTimeout } from "./timeout.ts";

test("retries until success, with backoff", async () => {
  let n = 0;
  const seen: number[] = [];
  const v = await retry(
    async (a) => {
      n++;
      if (a < 3) throw new Error("transient");
      return "ok";
    },
    { baseDelayMs: 1, onRetry: (_, a) => seen.push(a) },
  );
  expect(v).toBe("ok");
  expect(n).toBe(3);
  expect(seen).toEqual([1, 2]);
});

test("stops at the attempt limit and on non-retryable errors", async () => {
  let n = 0;
  await expect(
    retry(
      async () => {
        n++;
        throw new Error("x");
      },
      { attempts: 4, baseDelayMs: 1 },
    ),
  ).rejects.toThrow("x");
  expect(n).toBe(4);
  n = 0;
  await expect(
    retry(
      async () => {
        n++;
        throw new Error("fatal");
      },
      { retryable: () => false },
    ),
  ).rejects.toThrow("fatal");
  expect(n).toBe(1);
});

test("withTimeout rejects with a 503-kind error and does not wait for the slow promise", async () => {
  const err = (await withTimeout(new Promise(() => {}), 20, "dependency").catch((e) => e)) as { code: string; status: number };
  expect(err.code).toBe("unavailable");
  expect(err.status).toBe(503);
  expect(await withTimeout(Promise.resolve(7), 20, "x")).toBe(7);
});
