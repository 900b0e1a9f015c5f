import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { csvField } from "../audit/audit.service.ts";
import { buildConfig } from "../config/load.ts";
import { parseRatePolicy } from "../config/parse.ts";
import { buildPageRoutes, corsHeaders, edgeHeaders, pageCsp, preflight, securePageRoutes, tileSource } from "./security-headers.ts";

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
    const pre = preflight(edge, new Request("http://x/api/v1/streams", { method: "OPTIONS", headers: { origin: "https://dash.city.example", "access-control-request-method": "PUT" } }))!;
    expect(pre.headers.get("access-control-allow-headers")).toContain("authorization");
    expect(pre.headers.get("access-control-allow-credentials")).toBeNull();
    expect(preflight(edge, new Request("http://x/", { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "PUT" } }))!.headers.get("access-control-allow-origin")).toBeNull();
  });
  test("compiled HTML bundles are served through our handlers with the page headers", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rter-bundle-"));
    writeFileSync(join(dir, "index-abc.html"), "<!doctype html><script src=/chunk-1.js></script>");
    writeFileSync(join(dir, "chunk-1.js"), "1");
    const bundle = {
      index: join(dir, "index-abc.html"),
      files: [
        { path: join(dir, "index-abc.html"), loader: "html", isEntry: false, headers: { etag: "a", "content-type": "text/html;charset=utf-8" } },
        { path: join(dir, "chunk-1.js"), loader: "js", isEntry: true, headers: { etag: "b", "content-type": "text/javascript;charset=utf-8" } },
      ],
    };
    const routes = securePageRoutes({ "/": bundle, "/other": new Response("x") }, { "content-security-policy": "default-src 'self'" });
    const page = (routes["/"] as () => Response)();
    expect(page.headers.get("content-security-policy")).toBe("default-src 'self'");
    expect(await page.text()).toContain("<script");
    expect((routes["/chunk-1.js"] as () => Response)().headers.get("content-type")).toBe("text/javascript;charset=utf-8");
    expect((routes["/other"] as Response).headers.get("content-security-policy")).toBe("default-src 'self'");
    // Running from source the bundle has no file list: left to Bun.
    const dev = { index: "/src/index.html" };
    expect(securePageRoutes({ "/": dev }, {})["/"]).toBe(dev);
  });
  test("running from source, HTML bundles are built once and served from memory with the page headers", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rter-pages-"));
    writeFileSync(join(dir, "index.html"), "<!doctype html><html><head><script type=module src=./main.ts></script></head><body>console</body></html>");
    writeFileSync(join(dir, "report.html"), "<!doctype html><html><head><link rel=stylesheet href=./style.css></head><body>report</body></html>");
    writeFileSync(join(dir, "main.ts"), "const n: number = 41; document.title = String(n + 1);");
    writeFileSync(join(dir, "style.css"), "body { color: red }");
    const sw = new Response("self", { headers: { "content-type": "text/javascript" } });
    const built = await buildPageRoutes({ "/": { index: join(dir, "index.html") }, "/report": { index: join(dir, "report.html") }, "/join/*": { index: join(dir, "report.html") }, "/sw.js": sw });
    expect(built["/sw.js"]).toBe(sw);
    const routes = securePageRoutes(built, { "content-security-policy": "default-src 'self'; frame-ancestors 'none'", "x-content-type-options": "nosniff" });
    const get = (path: string) => routes[path] as Response;
    for (const path of ["/", "/report", "/join/*"]) {
      expect(get(path)).toBeInstanceOf(Response);
      expect(get(path).headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      expect(get(path).headers.get("content-type")).toStartWith("text/html");
      expect(get(path).headers.get("cache-control")).toBe("no-cache");
    }
    const html = await get("/").clone().text();
    expect(html).toContain("console");
    const script = /<script[^>]*src="?(\/[^" >]+)/.exec(html)![1]!;
    expect(get(script).headers.get("content-type")).toStartWith("text/javascript");
    expect(get(script).headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(get(script).headers.get("x-content-type-options")).toBe("nosniff");
    expect(await get(script).clone().text()).toContain("42"); // built: TypeScript gone, minified
    const style = /<link[^>]*href="?(\/[^" >]+\.css)/.exec(await get("/report").clone().text())![1]!;
    expect(await get(style).clone().text()).toContain("red");
    // The compiled binary's bundles (with a file list) and plain routes pass through untouched.
    const compiled = { index: "/b/index.html", files: [{ path: "/b/index.html", loader: "html", isEntry: false, headers: {} }] };
    const plain = { "/": compiled, "/x": sw };
    expect(await buildPageRoutes(plain)).toBe(plain);
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
    expect(csvField("=HYPERLINK(\"http://x\")")).toBe("\"'=HYPERLINK(\"\"http://x\"\")\"");
    expect(csvField("-1+1")).toBe("'-1+1");
    expect(csvField("a,b\nc")).toBe("\"a,b\nc\"");
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
