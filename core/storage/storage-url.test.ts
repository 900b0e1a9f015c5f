import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { AppError } from "../errors.ts";
import { parseStorageUrl } from "./open.ts";
import { validateKey, validatePrefix } from "./store.ts";

describe("parseStorageUrl", () => {
  test("file:///abs/path", () => {
    expect(parseStorageUrl("file:///var/lib/rter/objects", "/data")).toEqual({ kind: "file", root: "/var/lib/rter/objects" });
    expect(parseStorageUrl("file://localhost/srv/o%20b", "/data")).toEqual({ kind: "file", root: "/srv/o b" });
    expect(parseStorageUrl("file:objects", "/data")).toEqual({ kind: "file", root: "/data/objects" });
  });

  test("s3 with everything", () => {
    expect(parseStorageUrl("s3://AKIA%2Fx:s3cr%40t%2B@minio.local:9000/media?tls=false&region=eu-west-1&object_lock=true", "/d")).toEqual({
      kind: "s3",
      endPoint: "minio.local",
      port: 9000,
      useSSL: false,
      accessKey: "AKIA/x",
      secretKey: "s3cr@t+",
      bucket: "media",
      region: "eu-west-1",
      timeoutMs: 10_000,
      retries: 3,
      objectLock: true,
    });
  });

  test("s3 defaults: TLS on, us-east-1, no port", () => {
    const c = parseStorageUrl("s3://a:b@s3.example.com/my.bucket-1/", "/d");
    expect(c).toMatchObject({ kind: "s3", useSSL: true, region: "us-east-1", port: undefined, bucket: "my.bucket-1" });
  });

  test("s3 tuning parameters and IPv6 hosts", () => {
    const c = parseStorageUrl("s3://a:b@[::1]:9000/bkt?timeout_ms=2500&retries=0&tls=1", "/d");
    expect(c).toMatchObject({ endPoint: "::1", port: 9000, useSSL: true, timeoutMs: 2500, retries: 0 });
  });

  test("s3 with a private CA: ca= is read once, into the config", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "rter-ca-"));
    const ca = path.join(dir, "ca.pem");
    writeFileSync(ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    writeFileSync(path.join(dir, "x.txt"), "not a certificate");
    expect(parseStorageUrl(`s3://a:b@minio:9000/bkt?ca=${encodeURIComponent(ca)}`, "/d")).toMatchObject({ useSSL: true, ca: readFileSync(ca, "utf8") });
    expect(parseStorageUrl("s3://a:b@minio:9000/bkt", "/d")).not.toHaveProperty("ca");
    expect(() => parseStorageUrl(`s3://a:b@minio:9000/bkt?tls=false&ca=${ca}`, "/d")).toThrow("ca needs TLS (drop tls=false)");
    expect(() => parseStorageUrl("s3://a:b@minio:9000/bkt?ca=ca.pem", "/d")).toThrow('ca must be an absolute path, got "ca.pem"');
    expect(() => parseStorageUrl(`s3://a:b@minio:9000/bkt?ca=${dir}/missing.pem`, "/d")).toThrow(/^cannot read the ca file .*missing\.pem: ENOENT$/);
    expect(() => parseStorageUrl(`s3://a:b@minio:9000/bkt?ca=${dir}/x.txt`, "/d")).toThrow(/x\.txt holds no PEM certificate$/);
  });

  const bad: [string, RegExp][] = [
    ["s3://a:b@host:9000", /missing the bucket/],
    ["s3://a:b@host:9000/", /missing the bucket/],
    ["s3://a:b@host:port/bkt", /invalid port "port"/],
    ["s3://a:b@host:70000/bkt", /invalid port "70000"/],
    ["s3://a:b@host:/bkt", /invalid port ""/],
    ["s3://host/bkt", /missing credentials/],
    ["s3://onlyaccess@host/bkt", /ACCESS:SECRET/],
    ["s3://:b@host/bkt", /empty access key/],
    ["s3://a:b@/bkt", /missing a host/],
    ["s3://a:b@host/bkt?tls=maybe", /tls must be true or false, got "maybe"/],
    ["s3://a:b@host/bkt?tsl=false", /unknown s3 URL parameter "tsl"/],
    ["s3://a:b@host/bkt?retries=-1", /retries must be an integer/],
    ["s3://a:b@host/Bucket_Name", /invalid bucket name "Bucket_Name"/],
    ["s3://a:b@host/ab", /3-63 characters/],
    ["s3://a:b@host/192.168.1.1", /IP address/],
    ["s3://a:b@host/bkt/sub", /just the bucket name/],
    ["gs://a:b@host/bkt", /unknown scheme "gs:"/],
    ["http://host/bkt", /unknown scheme "http:"/],
    ["/just/a/path", /expected a file:\/\/ or s3:\/\/ URL/],
    ["file://relative/path", /must be absolute/],
    ["file:///", /other than \//],
    ["s3://a:%zz@host/bkt", /percent-encoded secret key/],
  ];
  for (const [url, msg] of bad) {
    test(`rejects ${url}`, () => {
      let err: unknown;
      try {
        parseStorageUrl(url, "/d");
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(AppError);
      expect((err as Error).message).toMatch(msg);
      expect((err as Error).message).not.toContain("\n");
    });
  }
});

describe("validateKey", () => {
  test("accepts odd but safe keys", () => {
    for (const k of ["a", "a/b/c.mp4", "with space", "é/日本", "a+b", "%20", "k=v", "~x", "..a", "a..", ".hidden/x"]) {
      expect(() => validateKey(k)).not.toThrow();
    }
    expect(() => validateKey("é".repeat(512))).not.toThrow(); // exactly 1024 bytes
  });

  test("rejects unsafe keys with bad_request", () => {
    for (const k of ["", "/abs", "../x", "a/../../b", "a/..", "a\0b", "a\u007fb", "a\\b", "a//b", "a/", ".", "é".repeat(513), "\ud800"]) {
      let err: unknown;
      try {
        validateKey(k);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("bad_request");
    }
  });

  test("prefixes may end in '/' or a partial segment", () => {
    for (const p of ["", "a/", "a/b", "a/.", "streams/abc/seg"]) expect(() => validatePrefix(p)).not.toThrow();
    for (const p of ["/a", "../", "a/../b", "a//"]) expect(() => validatePrefix(p)).toThrow(AppError);
  });
});
