import { describe, expect, test } from "bun:test";
import { dateAtPosition, placeOfDate, type FragmentTime } from "./fragment-clock.ts";

const T = Date.parse("2026-11-28T08:00:00.000Z");
// A live playlist whose worker jumped: seconds 3–9 of capture were skipped (made later, for the
// recording only), so position 3 s is capture second 10.
const LIVE: FragmentTime[] = [
  { start: 0, duration: 1, programDateTime: T },
  { start: 1, duration: 1, programDateTime: T + 1_000 },
  { start: 2, duration: 1, programDateTime: T + 2_000 },
  { start: 3, duration: 1, programDateTime: T + 10_000 },
  { start: 4, duration: 1.5, programDateTime: T + 11_000 },
];

describe("dateAtPosition", () => {
  test("read from the fragment under the position, across a hole", () => {
    expect(dateAtPosition(LIVE, 0.25)).toBe(T + 250);
    expect(dateAtPosition(LIVE, 2.5)).toBe(T + 2_500);
    // Not T + 3_500, as extrapolating from the fragment before the hole would say.
    expect(dateAtPosition(LIVE, 3.5)).toBe(T + 10_500);
    expect(dateAtPosition(LIVE, 5)).toBe(T + 12_000);
  });
  test("outside the fragments, or without dates: null", () => {
    expect(dateAtPosition(LIVE, 5.5)).toBeNull();
    expect(dateAtPosition(LIVE, -1)).toBeNull();
    expect(dateAtPosition([{ start: 0, duration: 1, programDateTime: null }], 0.5)).toBeNull();
  });
});

describe("placeOfDate", () => {
  test("an instant with media: its position", () => {
    expect(placeOfDate(LIVE, T + 1_500)).toEqual({ position: 1.5, inside: true });
    expect(placeOfDate(LIVE, T + 11_750)).toEqual({ position: 4.75, inside: true });
  });
  test("an instant in the hole: the first frame after it, marked as outside", () => {
    expect(placeOfDate(LIVE, T + 5_000)).toEqual({ position: 3, inside: false });
    expect(placeOfDate(LIVE, T - 2_000)).toEqual({ position: 0, inside: false });
  });
  test("past the live edge: null", () => {
    expect(placeOfDate(LIVE, T + 12_500)).toBeNull();
    expect(placeOfDate([], T)).toBeNull();
  });
  test("the inverse of dateAtPosition inside fragments", () => {
    for (const pos of [0, 0.999, 2.2, 3, 4.9]) expect(placeOfDate(LIVE, dateAtPosition(LIVE, pos)!)!.position).toBeCloseTo(pos, 9);
  });
});
