import { describe, expect, test } from "bun:test";
import { csvField } from "../audit/audit.service.ts";
import { buildConfig } from "../config/load.ts";
import { parseRatePolicy } from "../config/parse.ts";
import { corsHeaders, edgeHeaders, pageCsp, preflight, tileSource } from "./security-headers.ts";

describe("security headers", () => {
  test("CSP allows the tile origin for images and nothing else from outside", () => {
    expect(tileSource("https://{s}.tile.example.org/{z}/{x}/{y}.png")).toBe("https://*.tile.example.org");
    expect(tileSource("/tiles/{z}/{x}/{y}.png")).toBeNull();
    const csp = pageCsp("https://tiles.city.example/{z}/{x}/{y}.png");
    expect(csp).toContain("img-src 'self' data: blob: https://tiles.city.example");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("media-src 'self' blob:");
  });
  test("HSTS only behind https; CORS only for listed origins", () => {
    expect(edgeHeaders(buildConfig({}, {})).api["strict-transport-security"]).toBeUndefined();
    const edge = edgeHeaders(buildConfig({ "public-url": "https://rter.city.example", "cors-origins": "https://dash.city.example" }, {}));
    expect(edge.page["strict-transport-security"]).toBe("max-age=31536000");
    expect(corsHeaders(edge, "https://dash.city.example")["access-control-allow-origin"]).toBe("https://dash.city.example");
    expect(corsHeaders(edge, "https://evil.example")).toEqual({});
    const pre = preflight(
      edge,
      new Request("http://x/api/v1/streams", { method: "OPTIONS", headers: { origin: "https://dash.city.example", "access-control-request-method": "PUT" } }),
    )!;
    expect(pre.headers.get("access-control-allow-headers")).toContain("authorization");
    expect(pre.headers.get("access-control-allow-credentials")).toBeNull();
    expect(
      preflight(
        edge,
        new Request("http://x/", { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "PUT" } }),
      )!.headers.get("access-control-allow-origin"),
    ).toBeNull();
  });
});

describe("settings and exports", () => {
  test("rate policies", () => {
    expect(parseRatePolicy("3000/1m")).toEqual({ limit: 3000, windowSeconds: 60 });
    expect(parseRatePolicy(" 20 / 10s ")).toEqual({ limit: 20, windowSeconds: 10 });
    for (const bad of ["3000", "0/1m", "10/500ms", "10/2h", "x/1m"]) expect(() => parseRatePolicy(bad)).toThrow();
  });
  test("security settings, with their cross-field rule", () => {
    const c = buildConfig({}, {});
    expect(c.security).toMatchObject({ sessionIdleMs: 1_800_000, loginMaxFailures: 5, loginLockoutMs: 600_000, trustedProxies: [], corsOrigins: [] });
    expect(() => buildConfig({ "session-idle": "13h" }, {})).toThrow(/^--session-idle: must not exceed --session-max/);
    expect(() => buildConfig({ "cors-origins": "https://a.example/path" }, {})).toThrow(/^--cors-origins/);
    expect(() => buildConfig({ "trusted-proxies": "10.0.0.0/33" }, {})).toThrow(/^--trusted-proxies/);
    expect(buildConfig({ retention: "30d" }, {}).retention.defaultMs).toBe(30 * 86_400_000);
  });
  test("CSV cells cannot become spreadsheet formulas", () => {
    expect(csvField('=HYPERLINK("http://x")')).toBe('"\'=HYPERLINK(""http://x"")"');
    expect(csvField("-1+1")).toBe("'-1+1");
    expect(csvField("a,b\nc")).toBe('"a,b\nc"');
    expect(csvField(null)).toBe("");
  });
});

describe("--print-config", () => {
  test("the session secret is never printed", async () => {
    const { describeConfig } = await import("../config/load.ts");
    const lines = describeConfig({ "session-secret": "s".repeat(40) }, {}, {});
    expect(lines.find((l) => l.startsWith("session-secret"))).toContain("***");
    expect(lines.join("\n")).not.toContain("s".repeat(40));
  });
});
