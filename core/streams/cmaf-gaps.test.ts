import { expect, test } from "bun:test";
import { finishedView, GAP_WAIT_MS, liveView } from "./cmaf-gaps.ts";

const T0 = Date.parse("2026-11-28T10:00:00Z");
const p = (seq: number, receivedMs: number, late = false) => ({ seq, receivedAt: new Date(T0 + receivedMs), late });
const seqs = (l: { part: { seq: number } }[]) => l.map((e) => e.part.seq);

test("live: contiguous parts are listed with no discontinuity", () => {
  const v = liveView([p(0, 0), p(1, 250), p(2, 500)], T0 + 600);
  expect(seqs(v.listed)).toEqual([0, 1, 2]);
  expect(v.listed.some((e) => e.discontinuity || e.boundary)).toBe(false);
  expect(v.stalledAt).toBeNull();
});

test("live: a fresh gap stops the list and says when it will jump", () => {
  const v = liveView([p(0, 0), p(1, 250), p(3, 750), p(4, 1000)], T0 + 1000);
  expect(seqs(v.listed)).toEqual([0, 1]);
  expect(v.stalledAt).toBe(2);
  expect(v.jumpAtMs).toBe(T0 + 750 + GAP_WAIT_MS);
  // Exactly at the deadline it still waits; a millisecond later it jumps.
  expect(liveView([p(0, 0), p(3, 750)], T0 + 750 + GAP_WAIT_MS).stalledAt).toBe(1);
});

test("live: once the next part waited longer than the gap wait, the list jumps with a discontinuity", () => {
  const v = liveView([p(0, 0), p(1, 250), p(3, 750), p(4, 1000), p(6, 1500)], T0 + 750 + GAP_WAIT_MS + 1);
  // 3 jumped over 2; 6 arrived later, so the gap at 5 still holds.
  expect(seqs(v.listed)).toEqual([0, 1, 3, 4]);
  expect(v.listed.map((e) => e.discontinuity)).toEqual([false, false, true, false]);
  expect(v.listed[2]!.boundary).toBe(true);
  expect(v.stalledAt).toBe(5);
});

test("live: late parts are never listed; a missing first part holds like any other", () => {
  expect(seqs(liveView([p(0, 0), p(1, 5000, true), p(2, 250)], T0 + 10_000).listed)).toEqual([0, 2]);
  const v = liveView([p(2, 0), p(3, 100)], T0 + 100);
  expect(v.listed).toEqual([]);
  expect(v.stalledAt).toBe(0);
  const later = liveView([p(2, 0), p(3, 100)], T0 + GAP_WAIT_MS + 1);
  expect(seqs(later.listed)).toEqual([2, 3]);
  // Nothing came before: no discontinuity to mark.
  expect(later.listed[0]!.discontinuity).toBe(false);
});

test("finished: late parts in their place, segment boundaries at both edges of a late run, discontinuity only where seqs are missing", () => {
  const v = finishedView([p(0, 0), p(1, 100), p(2, 9000, true), p(3, 9100, true), p(4, 300), p(6, 500), p(7, 600)]);
  expect(seqs(v)).toEqual([0, 1, 2, 3, 4, 6, 7]);
  expect(v.map((e) => e.discontinuity)).toEqual([false, false, false, false, false, true, false]);
  expect(v.map((e) => e.boundary)).toEqual([false, false, true, false, true, true, false]);
});
