import { expect, test } from "bun:test";
import { VIEW_DEDUPE_MS, ViewDedupe } from "./audit.service.ts";

test("a view is claimed once per key and window on one node; another node keeps its own memory", () => {
  const a = new ViewDedupe();
  const b = new ViewDedupe();
  const t0 = 1_000_000;
  expect(a.claim("u1|stream.viewed|s1", t0)).toBe(true);
  expect(a.claim("u1|stream.viewed|s1", t0 + 1)).toBe(false);
  expect(a.claim("u2|stream.viewed|s1", t0 + 1)).toBe(true);
  // The other node has not recorded it: its claim goes on to the database check.
  expect(b.claim("u1|stream.viewed|s1", t0 + 1)).toBe(true);
  expect(a.claim("u1|stream.viewed|s1", t0 + VIEW_DEDUPE_MS)).toBe(true);
});
