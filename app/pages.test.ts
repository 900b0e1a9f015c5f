import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildPageRoutes, securePageRoutes } from "./pages.ts";

describe("pages", () => {
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
    const built = await buildPageRoutes({
      "/": { index: join(dir, "index.html") },
      "/report": { index: join(dir, "report.html") },
      "/join/*": { index: join(dir, "report.html") },
      "/sw.js": sw,
    });
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
