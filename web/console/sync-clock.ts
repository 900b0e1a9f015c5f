// The timeline's shared wall clock and the step that keeps its players on it, DOM-free so it is
// unit-tested. A player is nudged back onto the clock when it drifts, but never while a seek of
// its own is still in flight: a player that is seeking or buffering holds the clock (and pauses
// the others) until it can show the picture of that instant. Sending it further ahead every tick
// instead, as the clock ran on, is how a tile stayed black on a loaded machine: each new seek
// cancelled the last before a frame was ever decoded, while its reported time still looked in sync.
// A seek holds the clock at once, at the instant sought: held only from the next tick, the clock
// had run on by a tick (seconds when the page is starved of CPU) while the others played, so the
// sought player landed that far behind, was sought again at the release, and so on.

export interface Clock {
  /** Wall-clock ms at performance time `since`. */
  base: number;
  since: number;
  /** The operator pressed play. */
  playing: boolean;
  /** Waiting for a player to catch up: the clock stands still. */
  held: boolean;
}

export interface PlayerState {
  /** Not seeking, with data to play from (readyState ≥ HAVE_FUTURE_DATA). */
  ready: boolean;
  /** Its playlist has media at the clock's instant (a player past its stream's end does not hold the clock). */
  hasMedia: boolean;
  /** The wall-clock time of the frame on screen (ms), when known. */
  date: number | null;
  paused: boolean;
}

export interface Step {
  clock: Clock;
  holdSince: number | null;
  /** Indexes of the players to seek to `at`, to play, to pause. */
  seek: number[];
  play: number[];
  pause: number[];
  at: number;
}

export const DRIFT_MS = 250;
/** A player that cannot catch up in this long is left to follow; the clock moves on without it. */
export const MAX_HOLD_MS = 8_000;

export function clockAt(c: Clock, now: number): number {
  return c.playing && !c.held ? c.base + (now - c.since) : c.base;
}

/**
 * The clock when the operator presses play (or a scrub starts playing) at instant t: held, with
 * the players paused, until the next step finds them ready — left running, it ran on while they
 * loaded (seconds on a starved page) and the first sample showed them that far behind it.
 */
export function startClock(t: number, now: number, playing: boolean): { clock: Clock; holdSince: number | null } {
  return { clock: { base: t, since: now, playing, held: playing }, holdSince: playing ? now : null };
}

export function syncStep(clock: Clock, holdSince: number | null, players: PlayerState[], now: number): Step {
  const t = clockAt(clock, now);
  const late = players.flatMap((p, i) => (!p.ready && p.hasMedia ? [i] : []));
  if (clock.playing && late.length && (holdSince === null || now - holdSince < MAX_HOLD_MS)) {
    const pause = clock.held ? [] : players.flatMap((p, i) => (p.paused ? [] : [i]));
    return { clock: clock.held ? clock : { base: t, since: now, playing: true, held: true }, holdSince: holdSince ?? now, seek: [], play: [], pause, at: t };
  }
  const next = clock.held ? { ...clock, since: now, held: false } : clock;
  const at = clockAt(next, now);
  // A player with no media at the instant (past its end, or in a hole of a live playlist, where
  // its seek already stands on the first frame after the hole) is neither sought again every tick
  // nor left playing ahead of the clock: it waits, paused, until the clock reaches its media.
  const seek = players.flatMap((p, i) => (p.ready && p.hasMedia && p.date !== null && Math.abs(p.date - at) > DRIFT_MS ? [i] : []));
  if (next.playing && seek.length) {
    // Everyone waits on the instant sought (the others are within DRIFT_MS of it) until the sought player shows it.
    const pause = players.flatMap((p, i) => (p.paused ? [] : [i]));
    return { clock: { base: at, since: now, playing: true, held: true }, holdSince: holdSince ?? now, seek, play: [], pause, at };
  }
  const play = next.playing ? players.flatMap((p, i) => (p.paused && p.hasMedia ? [i] : [])) : [];
  const pause = players.flatMap((p, i) => (!p.paused && !p.hasMedia ? [i] : []));
  // While a late player is being waited out past the bound, the hold is not started again.
  return { clock: next, holdSince: late.length ? holdSince : null, seek, play, pause, at };
}

/** A buffered range of the media element (s). */
export interface Range {
  start: number;
  end: number;
}

/** Media a player must hold ahead of its playhead to count as playing on (s), unless it holds its media's end. */
export const AHEAD_S = 0.1;

/**
 * The playhead at pos has media to play on: a range holds it and reaches AHEAD_S past it, or to
 * the end of the media (mediaEnd, s). A player that has played to the end of what it buffered
 * stands on the boundary with the next fragment's date, its picture frozen, while Chromium still
 * reports HAVE_ENOUGH_DATA for a while: readyState alone counted it as playing.
 */
export function playsOn(buffered: readonly Range[], pos: number, mediaEnd: number | null): boolean {
  const r = buffered.find((b) => pos >= b.start && pos < b.end);
  if (!r) return false;
  return r.end - pos >= AHEAD_S || (mediaEnd !== null && r.end >= mediaEnd - 2.5 * AHEAD_S);
}
