// Small spherical geometry for the map, guidance and "who can see this?". Pure functions, degrees
// in and out, headings clockwise from true north.

const R = 6_371_000;
const rad = (d: number) => (d * Math.PI) / 180;
const deg = (r: number) => (r * 180) / Math.PI;

export interface LatLng {
  lat: number;
  lng: number;
}

/** Metres between two points (haversine). */
export function distance(a: LatLng, b: LatLng): number {
  const dLat = rad(b.lat - a.lat);
  const dLng = rad(b.lng - a.lng);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLng / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Initial bearing from a to b, 0..360. */
export function bearing(a: LatLng, b: LatLng): number {
  const y = Math.sin(rad(b.lng - a.lng)) * Math.cos(rad(b.lat));
  const x = Math.cos(rad(a.lat)) * Math.sin(rad(b.lat)) - Math.sin(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.cos(rad(b.lng - a.lng));
  return (deg(Math.atan2(y, x)) + 360) % 360;
}

/** Signed smallest turn from heading `from` to heading `to`, -180..180 (positive = turn right). */
export function turn(from: number, to: number): number {
  return ((((to - from) % 360) + 540) % 360) - 180;
}

/** The point `metres` away from `p` along `heading`. */
export function destination(p: LatLng, heading: number, metres: number): LatLng {
  const d = metres / R;
  const th = rad(heading);
  const la1 = rad(p.lat);
  const lo1 = rad(p.lng);
  const la2 = Math.asin(Math.sin(la1) * Math.cos(d) + Math.cos(la1) * Math.sin(d) * Math.cos(th));
  const lo2 = lo1 + Math.atan2(Math.sin(th) * Math.sin(d) * Math.cos(la1), Math.cos(d) - Math.sin(la1) * Math.sin(la2));
  return { lat: deg(la2), lng: ((deg(lo2) + 540) % 360) - 180 };
}

/** A camera's view on the map: a circular sector around its heading. */
export function cone(p: LatLng, heading: number, fov = 60, metres = 150, steps = 12): LatLng[] {
  const pts: LatLng[] = [p];
  for (let i = 0; i <= steps; i++) pts.push(destination(p, heading - fov / 2 + (fov * i) / steps, metres));
  pts.push(p);
  return pts;
}

export interface Viewer extends LatLng {
  id: string;
  heading: number | null;
}

export interface Visibility<V extends Viewer> {
  viewer: V;
  distance: number;
  /** Bearing from the viewer to the point. */
  bearing: number;
  /** Degrees the viewer must turn to face the point (positive = right); null without a heading. */
  turn: number | null;
  /** The point is inside the viewer's camera cone. */
  sees: boolean;
}

/**
 * "Who can see this?": viewers whose cone (fov, range) holds the point first, nearest first; then
 * the nearest others with the bearing they would need.
 */
export function whoCanSee<V extends Viewer>(point: LatLng, viewers: V[], opts: { fov?: number; range?: number; others?: number } = {}): Visibility<V>[] {
  const fov = opts.fov ?? 60;
  const range = opts.range ?? 500;
  const all = viewers.map((v) => {
    const d = distance(v, point);
    const b = bearing(v, point);
    const tr = v.heading === null ? null : turn(v.heading, b);
    return { viewer: v, distance: d, bearing: b, turn: tr, sees: tr !== null && Math.abs(tr) <= fov / 2 && d <= range };
  });
  const seeing = all.filter((x) => x.sees).sort((a, b) => a.distance - b.distance);
  const others = all
    .filter((x) => !x.sees)
    .sort((a, b) => a.distance - b.distance)
    .slice(0, opts.others ?? 5);
  return [...seeing, ...others];
}

/** Within `tolerance` degrees of the wanted heading. */
export function onTarget(heading: number | null, wanted: number | null, tolerance = 10): boolean {
  return heading !== null && wanted !== null && Math.abs(turn(heading, wanted)) <= tolerance;
}

/** Compass words for a bearing (N, NE, …). */
export function compass(b: number): string {
  return ["N", "NE", "E", "SE", "S", "SW", "W", "NW"][Math.round(b / 45) % 8]!;
}

export function formatDistance(m: number): string {
  return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(1)} km`;
}
