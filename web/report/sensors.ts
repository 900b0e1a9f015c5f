// GPS position and compass heading of the reporter's phone, and the telemetry sample built from
// them. The compass comes from absolute device orientation (or iOS's webkitCompassHeading).

import type { TelemetrySample } from "../lib/outbox.ts";

export class Sensors {
  position: GeolocationPosition | null = null;
  heading: number | null = null;
  private watch: number | null = null;

  constructor(private readonly onChange: () => void) {
    const onOrientation = (e: DeviceOrientationEvent) => {
      const webkit = (e as unknown as { webkitCompassHeading?: number }).webkitCompassHeading;
      if (typeof webkit === "number") this.heading = webkit;
      else if ((e.absolute || e.type === "deviceorientationabsolute") && e.alpha !== null) this.heading = (360 - e.alpha) % 360;
      else return;
      this.onChange();
    };
    window.addEventListener("deviceorientationabsolute", onOrientation as EventListener);
    window.addEventListener("deviceorientation", onOrientation);
  }

  /** iOS asks for the compass only from a user gesture: call from the click handler. */
  static async askCompass(): Promise<void> {
    const DOE = DeviceOrientationEvent as unknown as { requestPermission?: () => Promise<string> };
    if (typeof DOE.requestPermission === "function") await DOE.requestPermission().catch(() => "denied");
  }

  start(): void {
    if (!("geolocation" in navigator) || this.watch !== null) return;
    this.watch = navigator.geolocation.watchPosition(
      (p) => {
        this.position = p;
        this.onChange();
      },
      (err) => console.warn("geolocation", err.message),
      { enableHighAccuracy: true, maximumAge: 1_000, timeout: 20_000 },
    );
  }

  stop(): void {
    if (this.watch !== null) navigator.geolocation.clearWatch(this.watch);
    this.watch = null;
  }

  /** The telemetry sample of now, or null without a position; values clamped to the contract's ranges. */
  sample(): TelemetrySample | null {
    const p = this.position?.coords;
    if (!p) return null;
    const s: TelemetrySample = { t: Date.now(), lat: p.latitude, lng: p.longitude };
    if (p.accuracy !== null && Number.isFinite(p.accuracy)) s.accuracy = Math.min(100_000, p.accuracy);
    if (this.heading !== null) s.heading = (Math.round(this.heading * 10) / 10) % 360;
    if (p.speed !== null && Number.isFinite(p.speed)) s.speed = Math.min(1000, Math.max(0, p.speed));
    return s;
  }
}
