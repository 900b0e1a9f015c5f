import { describe, expect, test } from "bun:test";
import { buildConfig, ConfigError, mergeSources } from "./load.ts";
import { parseByteRate, parseDuration, parseSize, redactUrl } from "./parse.ts";
import { parseRoles, SETTINGS } from "./settings.ts";

describe("buildConfig", () => {
  test("defaults give the all-roles appliance on embedded storage", () => {
    const c = buildConfig({}, {}, {}, "/srv");
    expect(c.roles).toEqual(["api", "worker", "web"]);
    expect(c.http.port).toBe(8080);
    expect(c.http.publicUrl).toBe("http://localhost:8080");
    expect(c.database.url).toBeNull();
    expect(c.storage).toEqual({ kind: "file", root: "/srv/.rter/objects" });
    expect(c.dataDir).toBe("/srv/.rter");
    expect(Object.isFrozen(c) && Object.isFrozen(c.http)).toBe(true);
  });

  test("flags > env > file > default, per setting", () => {
    const c = buildConfig({ port: "1" }, { RTER_PORT: "2", RTER_ROLES: "worker" }, { port: "3", roles: "api", "log-level": "warn" });
    expect(c.http.port).toBe(1);
    expect(c.roles).toEqual(["worker"]);
    expect(c.logLevel).toBe("warn");
  });

  test("an empty environment variable counts as unset", () => {
    expect(buildConfig({}, { RTER_PORT: "" }).http.port).toBe(8080);
  });

  test("errors name the setting", () => {
    expect(() => buildConfig({ port: "0" }, {})).toThrow(new ConfigError("--port: must be between 1 and 65535, got 0"));
    expect(() => buildConfig({}, { DATABASE_URL: "x" })).toThrow(/^--database-url: not a valid URL/);
    expect(() => buildConfig({ "admin-email": "nope" }, {})).toThrow(/^--admin-email/);
  });

  test("every setting has a unique flag and env name and a doc line", () => {
    expect(new Set(SETTINGS.map((s) => s.flag)).size).toBe(SETTINGS.length);
    expect(new Set(SETTINGS.map((s) => s.env)).size).toBe(SETTINGS.length);
    for (const s of SETTINGS) expect(s.doc.length).toBeGreaterThan(5);
    expect(mergeSources({}, {}, {}).size).toBe(SETTINGS.length);
  });
});

describe("value parsers", () => {
  test("roles", () => {
    expect(parseRoles("api, web,api")).toEqual(["api", "web"]);
    expect(parseRoles("all")).toEqual(["api", "worker", "web"]);
    expect(() => parseRoles("api,db")).toThrow('unknown role "db"');
  });
  test("durations", () => {
    expect(parseDuration("250")).toBe(250);
    expect(parseDuration("1.5s")).toBe(1500);
    expect(parseDuration("2h")).toBe(7_200_000);
    for (const bad of ["", "s", "-1s", "0", "1y", "1 s"]) expect(() => parseDuration(bad)).toThrow();
  });
  test("sizes", () => {
    expect(parseSize("64MiB")).toBe(64 * 1024 * 1024);
    expect(parseSize("10MB")).toBe(10_000_000);
    expect(() => parseSize("12XB")).toThrow();
  });
  test("upload minimum rate and its head start", () => {
    expect(buildConfig({}, {}).http.upload).toEqual({ minBytesPerSecond: 16_384, graceMs: 10_000 });
    expect(buildConfig({ "upload-min-rate": "off", "upload-grace": "30s" }, {}).http.upload).toEqual({ minBytesPerSecond: null, graceMs: 30_000 });
    expect(parseByteRate("64KiB/s")).toBe(65_536);
    expect(parseByteRate(" 1000 ")).toBe(1000);
    for (const bad of ["0", "fast", "-1KiB", "2GiB", "16KiB/m"]) expect(() => parseByteRate(bad)).toThrow();
    expect(() => buildConfig({ "upload-min-rate": "fast" }, {})).toThrow(
      new ConfigError('--upload-min-rate: expected bytes per second like 16KiB, 16KiB/s or 16384, or off; got "fast"'),
    );
    expect(() => buildConfig({ "upload-min-rate": "0" }, {})).toThrow(/^--upload-min-rate: must be between 1 byte and 1GiB per second/);
    expect(() => buildConfig({ "upload-grace": "200ms" }, {})).toThrow(new ConfigError("--upload-grace: must be between 1s and 10m"));
    expect(() => buildConfig({ "upload-grace": "soon" }, {})).toThrow(/^--upload-grace: expected a duration/);
  });
  test("secrets are redacted", () => {
    expect(redactUrl("postgres://rter:s3cret@db:5432/rter")).toBe("postgres://rter:***@db:5432/rter");
    expect(redactUrl("s3://AK:SK@minio:9000/b")).toBe("s3://AK:***@minio:9000/b");
  });
});
