import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { AppError } from "../../core/errors.ts";
import { runWithPerf } from "../../core/perf.ts";
import { openStore, parseStorageUrl } from "../../core/storage/open.ts";
import type { ObjectInfo, ObjectStore } from "../../core/storage/store.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";

// bunfig's [test] timeout is not a Bun setting; MinIO start-up and 20 MiB round-trips need more than 5 s on a slow box.
setDefaultTimeout(30_000);

const enc = new TextEncoder();
const sha = (b: Uint8Array | string) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (i < chunks.length) c.enqueue(chunks[i++]!);
      else c.close();
    },
  });
}

/** Deterministic pseudo-random bytes, so a mix of two versions can never look like either one. */
function bytes(n: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function chunked(b: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

async function collect(it: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of it) out.push(o);
  return out;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<AppError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(AppError);
  expect((e as AppError).code).toBe(code as AppError["code"]);
  return e as AppError;
}

/** One behavioural contract, run against every ObjectStore implementation. */
function storeSuite(name: string, setup: () => Promise<ObjectStore>, afterEachStore?: () => Promise<void>) {
  describe(`ObjectStore contract: ${name}`, () => {
    let store: ObjectStore;
    beforeAll(async () => {
      store = await setup();
    });
    afterAll(async () => {
      await store.close();
      await afterEachStore?.();
    });

    test("put from a multi-chunk stream and from bytes; sha256 and size match", async () => {
      const data = bytes(300_000, 1);
      const a = await store.put("put/streamed.bin", streamOf(chunked(data, 7_001)), { contentType: "application/octet-stream" });
      expect(a).toEqual({ key: "put/streamed.bin", size: data.length, sha256: sha(data) });
      const b = await store.put("put/bytes.txt", enc.encode("hello"));
      expect(b.sha256).toBe(sha("hello"));
      const c = await store.put("put/string.txt", "héllo");
      expect(c.size).toBe(enc.encode("héllo").length);
      const empty = await store.put("put/empty", streamOf([]));
      expect(empty).toEqual({ key: "put/empty", size: 0, sha256: sha("") });
      expect(await store.getBytes("put/streamed.bin")).toEqual(data);
      expect(new TextDecoder().decode(await store.getBytes("put/string.txt"))).toBe("héllo");
      expect((await store.getBytes("put/empty")).length).toBe(0);
    });

    test("get whole and byte ranges", async () => {
      const data = bytes(100_000, 2);
      await store.put("range/obj", data);
      const whole = await Bun.readableStreamToBytes(await store.get("range/obj"));
      expect(whole).toEqual(data);
      expect(await store.getBytes("range/obj", { start: 99_000 })).toEqual(data.subarray(99_000));
      expect(await store.getBytes("range/obj", { start: 10, end: 19 })).toEqual(data.subarray(10, 20));
      expect(await store.getBytes("range/obj", { start: 99_999, end: 99_999 })).toEqual(data.subarray(99_999));
      expect(await store.getBytes("range/obj", { start: 0, end: 0 })).toEqual(data.subarray(0, 1));
      // End past the object is clamped, like HTTP.
      expect(await store.getBytes("range/obj", { start: 99_990, end: 1_000_000 })).toEqual(data.subarray(99_990));
      await rejectsWith(store.getBytes("range/obj", { start: 100_000 }), "bad_request");
      await rejectsWith(store.getBytes("range/obj", { start: 5, end: 4 }), "bad_request");
    });

    test("stat present and missing", async () => {
      await store.put("stat/here", "12345");
      const s = await store.stat("stat/here");
      expect(s?.key).toBe("stat/here");
      expect(s?.size).toBe(5);
      expect(s?.lastModified).toBeInstanceOf(Date);
      expect(Math.abs(s!.lastModified.getTime() - Date.now())).toBeLessThan(60_000);
      expect(await store.stat("stat/nope")).toBeNull();
      expect(await store.stat("stat")).toBeNull(); // a "folder" is not an object
    });

    test("list by prefix: recursive, sorted, scoped", async () => {
      const keys = ["ls/b/2", "ls/a", "ls/b/1", "ls/a-b", "ls/b/c/deep", "ls/é", "ls/z", "lsx/other", "ls2/other"];
      for (const k of keys) await store.put(k, k);
      const all = await collect(store.list("ls/"));
      const expected = keys.filter((k) => k.startsWith("ls/")).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect(all.map((o) => o.key)).toEqual(expected);
      expect(all.find((o) => o.key === "ls/b/c/deep")?.size).toBe("ls/b/c/deep".length);
      expect((await collect(store.list("ls/b/"))).map((o) => o.key)).toEqual(["ls/b/1", "ls/b/2", "ls/b/c/deep"]);
      // A prefix is a string prefix, not a folder: 'ls/a' matches 'ls/a' and 'ls/a-b'.
      expect((await collect(store.list("ls/a"))).map((o) => o.key)).toEqual(["ls/a", "ls/a-b"]);
      expect(await collect(store.list("none/"))).toEqual([]);
      const everything = (await collect(store.list(""))).map((o) => o.key);
      expect(everything).toContain("lsx/other");
      expect(everything.some((k) => k.startsWith(".tmp"))).toBe(false);
    });

    test("delete, then missing; deleting a missing key is fine", async () => {
      await store.put("del/x", "x");
      await store.delete("del/x");
      expect(await store.stat("del/x")).toBeNull();
      await rejectsWith(store.get("del/x"), "not_found");
      await store.delete("del/x");
      await store.delete("del/never/existed");
      // A key may reuse a name that was a folder before.
      await store.put("del", "now a file");
      expect(await store.stat("del")).not.toBeNull();
    });

    test("get and getBytes of a missing key -> not_found", async () => {
      await rejectsWith(store.get("missing/key"), "not_found");
      await rejectsWith(store.getBytes("missing/key", { start: 1 }), "not_found");
    });

    test("keys with odd characters round-trip", async () => {
      const odd = [
        "odd/with space.txt",
        "odd/é/日本/ファイル",
        "odd/a+b",
        "odd/%20lit",
        "odd/k=v&x=y",
        "odd/~tilde",
        "odd/emoji 😀",
        "odd/semi;colon,comma!'()*",
      ];
      for (const k of odd) {
        const r = await store.put(k, `v:${k}`);
        expect(r.key).toBe(k);
      }
      for (const k of odd) {
        expect(new TextDecoder().decode(await store.getBytes(k))).toBe(`v:${k}`);
        expect((await store.stat(k))?.key).toBe(k);
      }
      const listed = (await collect(store.list("odd/"))).map((o) => o.key);
      expect(listed).toEqual([...odd].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    });

    test("invalid keys are rejected before touching storage", async () => {
      for (const k of ["../x", "a/../../b", "", "/abs", "a\0b", "a\\b", "a//b", "a/./b", "x/", "a\nb", "k".repeat(1025)]) {
        await rejectsWith(store.put(k, "x"), "bad_request");
        await rejectsWith(store.get(k), "bad_request");
        await rejectsWith(store.stat(k), "bad_request");
        await rejectsWith(store.delete(k), "bad_request");
      }
      await rejectsWith(collect(store.list("../")), "bad_request");
    });

    test("concurrent writers to one key: last write wins, never a mix", async () => {
      const versions = Array.from({ length: 8 }, (_, i) => bytes(200_000 + i, 100 + i));
      const hashes = new Set(versions.map((v) => sha(v)));
      const writes = versions.map((v, i) => store.put("race/one", streamOf(chunked(v, 4096 + i * 17))));
      // Readers during the race must always see some complete version (or nothing yet).
      const reads = Array.from({ length: 8 }, async () => {
        await Bun.sleep(Math.random() * 20);
        const b = await store.getBytes("race/one").catch((e: AppError) => (e.code === "not_found" ? null : Promise.reject(e)));
        if (b) expect(hashes.has(sha(b))).toBe(true);
      });
      await Promise.all([...writes, ...reads]);
      const final = await store.getBytes("race/one");
      expect(hashes.has(sha(final))).toBe(true);
      expect((await collect(store.list("race/"))).length).toBe(1);
    });

    test("50 concurrent writers to different keys", async () => {
      const n = 50;
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) => store.put(`many/${String(i).padStart(2, "0")}`, streamOf(chunked(bytes(10_000, i), 1000)))),
      );
      const listed = await collect(store.list("many/"));
      expect(listed.length).toBe(n);
      for (let i = 0; i < n; i++) {
        expect(results[i]!.sha256).toBe(sha(bytes(10_000, i)));
        expect(sha(await store.getBytes(`many/${String(i).padStart(2, "0")}`))).toBe(results[i]!.sha256);
      }
    });

    test("maxBytes exceeded -> too_large and nothing stored", async () => {
      await rejectsWith(store.put("big/bytes", bytes(1001, 3), { maxBytes: 1000 }), "too_large");
      let pulled = 0;
      const endless = new ReadableStream<Uint8Array>({
        pull(c) {
          pulled++;
          c.enqueue(bytes(64 * 1024, pulled));
        },
      });
      await rejectsWith(store.put("big/stream", endless, { maxBytes: 1_000_000 }), "too_large");
      expect(pulled).toBeLessThan(40); // stopped reading soon after the limit
      // Past one S3 part, so the multipart path is exercised and must be aborted too.
      await rejectsWith(store.put("big/multipart", streamOf(chunked(bytes(10 << 20, 4), 1 << 20)), { maxBytes: 9 << 20 }), "too_large");
      expect(await store.stat("big/bytes")).toBeNull();
      expect(await store.stat("big/stream")).toBeNull();
      expect(await store.stat("big/multipart")).toBeNull();
      expect(await collect(store.list("big/"))).toEqual([]);
      const exact = await store.put("big/exact", bytes(1000, 5), { maxBytes: 1000 });
      expect(exact.size).toBe(1000);
    });

    test("20 MiB streamed round-trip", async () => {
      const data = bytes(20 << 20, 6);
      const r = await store.put("large/20mib", streamOf(chunked(data, 256 * 1024 + 3)));
      expect(r.size).toBe(data.length);
      expect(r.sha256).toBe(sha(data));
      const hasher = new Bun.CryptoHasher("sha256");
      let n = 0;
      for await (const c of await store.get("large/20mib")) {
        hasher.update(c);
        n += c.byteLength;
      }
      expect(n).toBe(data.length);
      expect(hasher.digest("hex")).toBe(r.sha256);
      expect(await store.getBytes("large/20mib", { start: 8 << 20, end: (8 << 20) + 9 })).toEqual(data.subarray(8 << 20, (8 << 20) + 10));
      expect((await store.stat("large/20mib"))?.size).toBe(data.length);
    });

    test("ping and ensure succeed when healthy; calls count as storage time", async () => {
      await store.ensure();
      await store.ping();
      const { ctx, result } = runWithPerf(async () => {
        await store.put("perf/x", "x");
        await collect(store.list("perf/"));
      });
      await result;
      expect(ctx.timings.storage).toBeGreaterThan(0);
      expect(ctx.timings.db).toBe(0);
    });
  });
}

let diskRoot = "";
storeSuite(
  "disk",
  async () => {
    diskRoot = mkdtempSync(path.join(tmpdir(), "rter-disk-store-"));
    const s = openStore(parseStorageUrl(`file://${diskRoot}`, "/unused"));
    await s.ensure();
    return s;
  },
  async () => {
    // Nothing may be left in the temp dir after all those aborted and racing writes.
    expect(readdirSync(path.join(diskRoot, ".tmp"))).toEqual([]);
    rmSync(diskRoot, { recursive: true, force: true });
  },
);

let minio: TestMinio;
storeSuite("s3 (real MinIO)", async () => {
  minio = await startMinio();
  const s = openStore(parseStorageUrl(minio.url, "/unused"));
  await s.ensure();
  return s;
});

// The same contract on a bucket with object lock (so versioning): a delete must remove every
// version, not leave the bytes behind a delete marker; overwrites and lists behave the same.
storeSuite("s3 with object lock (versioned bucket)", async () => {
  minio ??= await startMinio();
  const s = openStore(parseStorageUrl(minio.url.replace(`/${minio.bucket}?`, "/contract-locked?") + "&object_lock=true", "/unused"));
  await s.ensure();
  expect(s.objectLock()).toBe(true);
  return s;
});

describe("s3 store when MinIO goes away", () => {
  const TIMEOUT_MS = 1500;
  const RETRIES = 2;
  let store: ObjectStore;

  beforeAll(async () => {
    minio ??= await startMinio();
    const cfg = parseStorageUrl(`${minio.url}&timeout_ms=${TIMEOUT_MS}&retries=${RETRIES}`, "/unused");
    store = openStore(cfg);
    await store.ensure();
    await store.put("outage/before", "still here");
  });
  afterAll(async () => {
    minio.resume();
    await store.close();
    await minio.stop();
  });

  async function expectUnavailableFast(p: Promise<unknown>, bound: number) {
    const t0 = performance.now();
    const e = await rejectsWith(p, "unavailable");
    expect(e.retryAfterSeconds).toBe(5);
    expect(performance.now() - t0).toBeLessThan(bound);
  }

  test("killed: put/get/stat/list/ping reject with unavailable, quickly; restart recovers", async () => {
    await minio.kill();
    const bound = TIMEOUT_MS * RETRIES; // refused connections must not wait out the timeout at all
    await expectUnavailableFast(store.put("outage/during", "x"), bound);
    await expectUnavailableFast(store.put("outage/during-stream", streamOf([enc.encode("a"), enc.encode("b")])), bound);
    await expectUnavailableFast(store.get("outage/before"), bound);
    await expectUnavailableFast(store.stat("outage/before"), bound);
    await expectUnavailableFast(collect(store.list("outage/")), bound);
    await expectUnavailableFast(store.ping(), bound);

    await minio.start();
    await store.ping();
    expect(new TextDecoder().decode(await store.getBytes("outage/before"))).toBe("still here");
    await store.put("outage/after", "ok");
    expect((await collect(store.list("outage/"))).map((o) => o.key)).toEqual(["outage/after", "outage/before"]);
  }, 60_000);

  test("frozen (accepts connections, never answers): calls time out instead of hanging", async () => {
    await store.ping(); // warm a keep-alive connection so the freeze hits an open socket too
    await minio.pause();
    try {
      const bound = TIMEOUT_MS * (RETRIES + 1) + 3000; // every attempt times out, plus backoff
      await expectUnavailableFast(store.ping(), TIMEOUT_MS + 1000);
      await expectUnavailableFast(store.stat("outage/before"), bound);
      await expectUnavailableFast(store.put("outage/frozen", "x"), bound);
    } finally {
      minio.resume();
    }
    await store.ping();
    expect((await store.stat("outage/before"))?.size).toBe(10);
  }, 60_000);
});
