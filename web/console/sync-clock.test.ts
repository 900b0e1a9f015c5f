import { describe, expect, test } from "bun:test";
import { AHEAD_S, clockAt, MAX_HOLD_MS, playsOn, startClock, syncStep, type Clock, type PlayerState } from "./sync-clock.ts";

const T = Date.parse("2026-11-28T07:00:00.000Z");
const running: Clock = { base: T, since: 1_000, playing: true, held: false };
const ok = (date: number | null, paused = false): PlayerState => ({ ready: true, hasMedia: true, date, paused });
const seeking = (date: number | null): PlayerState => ({ ready: false, hasMedia: true, date, paused: false });

describe("syncStep", () => {
  test("in step: nothing to do, the clock runs", () => {
    const s = syncStep(running, null, [ok(T + 500), ok(T + 450)], 1_500);
    expect(s.at).toBe(T + 500);
    expect([s.seek, s.play, s.pause, s.clock.held]).toEqual([[], [], [], false]);
  });

  test("a drifting player that is ready is sent to the clock's instant, and the clock waits there with the others paused", () => {
    const s = syncStep(running, null, [ok(T + 500), ok(T + 100)], 1_500);
    expect(s.seek).toEqual([1]);
    expect(s.at).toBe(T + 500);
    expect([s.pause, s.play, s.clock.held, s.clock.base]).toEqual([[0, 1], [], true, T + 500]);
    expect(s.holdSince).toBe(1_500);
  });

  test("under load (ticks seconds apart) a sought player lands on the held clock and is not sought again at the release", () => {
    const s = syncStep(running, null, [ok(T + 500), ok(T - 900)], 1_500);
    expect(s.seek).toEqual([1]);
    // The next tick comes 1.6 s late; the seek is still in flight: the clock has not moved.
    const wait = syncStep(s.clock, s.holdSince, [ok(T + 500, true), { ...seeking(T + 500), paused: true }], 3_100);
    expect([wait.at, wait.seek, wait.pause, wait.play]).toEqual([T + 500, [], [], []]);
    // Seeked: both stand on the instant; the clock runs from it, both play, nobody is sought again.
    const go = syncStep(wait.clock, wait.holdSince, [ok(T + 500, true), ok(T + 510, true)], 4_700);
    expect([go.at, go.seek, go.play, go.clock.held, go.holdSince]).toEqual([T + 500, [], [0, 1], false, null]);
    expect(clockAt(go.clock, 5_000)).toBe(T + 800);
  });

  test("play: the clock waits on the instant while the players load, then runs from it with both playing", () => {
    const { clock, holdSince } = startClock(T, 1_000, true);
    // The first tick comes 1.1 s late (a starved page); the players are still loading.
    const loading = syncStep(clock, holdSince, [seeking(null), seeking(null)], 2_100);
    expect([loading.at, loading.clock.held, loading.play]).toEqual([T, true, []]);
    const go = syncStep(loading.clock, loading.holdSince, [ok(T + 20, true), ok(T - 30, true)], 2_400);
    expect([go.at, go.seek, go.play, go.clock.held]).toEqual([T, [], [0, 1], false]);
    expect(clockAt(go.clock, 2_900)).toBe(T + 500);
  });

  test("pause: the clock stands where it was, not held", () => {
    expect(startClock(T, 1_000, false)).toEqual({ clock: { base: T, since: 1_000, playing: false, held: false }, holdSince: null });
  });

  test("a seek while the operator has paused does not start a hold", () => {
    const s = syncStep({ ...running, playing: false }, null, [ok(T + 500, true), ok(T + 100, true)], 1_500);
    expect([s.seek, s.pause, s.clock.held]).toEqual([[0], [], false]);
  });

  test("a player still seeking is not sent again: the clock stands still and the others pause until it can show the instant", () => {
    const held = syncStep(running, null, [ok(T + 500), seeking(T - 3_000)], 1_500);
    expect(held.seek).toEqual([]);
    expect(held.pause).toEqual([0, 1]);
    expect(held.clock.held).toBe(true);
    expect(held.at).toBe(T + 500);
    // Time passes, the clock does not.
    const later = syncStep(held.clock, held.holdSince, [ok(T + 500, true), seeking(T + 500)], 4_000);
    expect(later.at).toBe(T + 500);
    expect([later.seek, later.pause]).toEqual([[], []]);
    // Ready: the clock runs from where it stood, everyone plays.
    const go = syncStep(later.clock, later.holdSince, [ok(T + 500, true), ok(T + 480, true)], 4_100);
    expect(go.clock.held).toBe(false);
    expect(go.at).toBe(T + 500);
    expect(go.play).toEqual([0, 1]);
    expect(go.holdSince).toBeNull();
    expect(clockAt(go.clock, 4_600)).toBe(T + 1_000);
  });

  test("a player that cannot catch up is waited for at most MAX_HOLD_MS, then followed, without holding again", () => {
    const first = syncStep(running, null, [ok(T + 500), seeking(null)], 1_500);
    const timedOut = syncStep(first.clock, first.holdSince, [ok(T + 500, true), seeking(null)], 1_500 + MAX_HOLD_MS);
    expect(timedOut.clock.held).toBe(false);
    expect(timedOut.play).toEqual([0]);
    const after = syncStep(timedOut.clock, timedOut.holdSince, [ok(T + 600), seeking(null)], 1_600 + MAX_HOLD_MS);
    expect(after.clock.held).toBe(false);
    expect(after.at).toBe(T + 600);
  });

  test("a player past its stream's end does not hold the clock", () => {
    const s = syncStep(running, null, [ok(T + 500), { ready: false, hasMedia: false, date: T - 60_000, paused: true }], 1_500);
    expect(s.clock.held).toBe(false);
    expect([s.seek, s.play]).toEqual([[], []]);
  });

  test("a player in a hole of its live playlist waits paused on the frame after it, neither sought again nor played ahead", () => {
    const hole: PlayerState = { ready: true, hasMedia: false, date: T + 4_000, paused: false };
    const s = syncStep(running, null, [ok(T + 500), hole], 1_500);
    expect([s.seek, s.play, s.pause, s.clock.held]).toEqual([[], [], [1], false]);
    // Still in the hole next tick (paused): nothing to do.
    const still = syncStep(s.clock, s.holdSince, [ok(T + 750), { ...hole, paused: true }], 1_750);
    expect([still.seek, still.play, still.pause]).toEqual([[], [], []]);
    // The clock reaches its media: it plays from where it stood.
    const on = syncStep(s.clock, s.holdSince, [ok(T + 4_000), { ...hole, hasMedia: true, paused: true }], 5_000);
    expect([on.seek, on.play, on.pause]).toEqual([[], [1], []]);
  });

  test("paused by the operator: the clock stands, drifting players are still placed", () => {
    const paused: Clock = { ...running, playing: false };
    const s = syncStep(paused, null, [ok(T - 2_000, true), seeking(null)], 9_000);
    expect(s.at).toBe(T);
    expect(s.clock.held).toBe(false);
    expect([s.seek, s.play]).toEqual([[0], []]);
  });
});

describe("playsOn", () => {
  const ranges = [
    { start: 2.07, end: 4.094 },
    { start: 5.2, end: 9 },
  ];
  test("media ahead of the playhead: plays on", () => {
    expect(playsOn(ranges, 3, 14)).toBe(true);
    expect(playsOn(ranges, 4.094 - AHEAD_S, 14)).toBe(true);
  });
  test("at the end of what it buffered (the next fragment's start), or outside every range: starving", () => {
    expect(playsOn(ranges, 4.094, 14)).toBe(false);
    expect(playsOn(ranges, 4.05, 14)).toBe(false);
    expect(playsOn(ranges, 1, 14)).toBe(false);
    expect(playsOn([], 0, null)).toBe(false);
  });
  test("its last frames, buffered to the end of its media, still play", () => {
    expect(playsOn(ranges, 8.95, 9.1)).toBe(true);
    expect(playsOn(ranges, 8.95, null)).toBe(false);
  });
});
