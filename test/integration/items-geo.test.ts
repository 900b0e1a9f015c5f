import { describe, expect, test } from "bun:test";
import { bearing, cone, destination, distance, onTarget, turn, whoCanSee } from "../../web/lib/geo.ts";

// The geometry behind guidance arrows, heading cones and "who can see this?".
describe("geo", () => {
  const here = { lat: 45.5017, lng: -73.5673 };

  test("bearing and distance agree with destination", () => {
    for (const h of [0, 45, 90, 180, 271.5]) {
      const p = destination(here, h, 250);
      expect(distance(here, p)).toBeCloseTo(250, 3);
      expect(bearing(here, p)).toBeCloseTo(h, 1);
    }
  });

  test("turn is the smallest signed angle; on target within the tolerance", () => {
    expect(turn(350, 10)).toBe(20);
    expect(turn(10, 350)).toBe(-20);
    expect(turn(90, 270)).toBe(-180);
    expect(onTarget(178, 180)).toBe(true);
    expect(onTarget(355, 3)).toBe(true);
    expect(onTarget(160, 180)).toBe(false);
    expect(onTarget(null, 180)).toBe(false);
  });

  test("a cone is a closed sector around the heading", () => {
    const c = cone(here, 90, 60, 100);
    expect(c[0]).toEqual(here);
    expect(c.at(-1)).toEqual(here);
    expect(bearing(here, c[1]!)).toBeCloseTo(60, 1);
    expect(bearing(here, c.at(-2)!)).toBeCloseTo(120, 1);
  });

  test("who can see a point: viewers whose cone holds it first, then the nearest others with their turn", () => {
    const point = destination(here, 90, 200);
    const viewers = [
      { id: "east-looking", ...destination(here, 0, 10), heading: 88 },
      { id: "north-looking", ...here, heading: 0 },
      { id: "far-east-looking", ...destination(point, 270, 2_000), heading: 90 },
      { id: "no-compass", ...destination(here, 180, 50), heading: null },
    ];
    const r = whoCanSee(point, viewers);
    expect(r[0]!.viewer.id).toBe("east-looking");
    expect(r[0]!.sees).toBe(true);
    expect(r.filter((x) => x.sees).map((x) => x.viewer.id)).toEqual(["east-looking"]);
    const north = r.find((x) => x.viewer.id === "north-looking")!;
    expect(north.turn).toBeCloseTo(90, 0);
    expect(r.find((x) => x.viewer.id === "no-compass")!.turn).toBeNull();
    // Out of range even though it looks the right way.
    expect(r.find((x) => x.viewer.id === "far-east-looking")!.sees).toBe(false);
  });
});
