import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "minio";
import { AppError } from "../../core/errors.ts";
import { locateFfmpeg } from "../../core/media/ffmpeg-locate.ts";
import { makeSegment } from "../../core/media/segment.ts";
import { openStore, parseStorageUrl } from "../../core/storage/open.ts";
import type { ObjectStore } from "../../core/storage/store.ts";
import { makeChunks } from "../support/media.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";

// The classic path's cheaper steps (issue 10): a single-part PUT signed with the SHA-256 we record
// (no second hash, no MD5), and makeSegment taking the chunk's bytes and handing back the segment's.
setDefaultTimeout(60_000);

const sha = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");
let minio: TestMinio;
let store: ObjectStore;
const dir = mkdtempSync(path.join(tmpdir(), "rter-cheap-"));

beforeAll(async () => {
  minio = await startMinio();
  store = openStore(parseStorageUrl(minio.url, dir));
  await store.ensure();
});
afterAll(async () => {
  await minio?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("single-part PUT signed with our SHA-256", () => {
  test("bytes and streams of several sizes arrive whole, and the recorded sha256 is that of the stored object", async () => {
    for (const n of [0, 1, 1000, 833_028]) {
      const body = new Uint8Array(n).map((_, i) => (i * 7919 + n) & 0xff);
      for (const [how, b] of [
        ["bytes", body],
        ["stream", new Blob([body]).stream()],
      ] as const) {
        const key = `cheap/${how}-${n}`;
        const r = await store.put(key, b, { contentType: "video/mp2t" });
        expect(r).toEqual({ key, size: n, sha256: sha(body) });
        const back = await store.getBytes(key);
        expect(back.byteLength).toBe(n);
        expect(sha(back)).toBe(r.sha256);
      }
    }
  });

  test("MinIO checks the signed SHA-256 against the body: a hash that does not match is refused and nothing is stored", async () => {
    // What putOne relies on for evidence: the hash we record is the one MinIO verified.
    const client = new Client({
      endPoint: minio.endPoint,
      port: minio.port,
      useSSL: false,
      accessKey: minio.accessKey,
      secretKey: minio.secretKey,
      region: "us-east-1",
      pathStyle: true,
    }) as unknown as { makeRequestStreamAsync(o: object, b: Buffer, s: string, c: number[], r: string): Promise<unknown> };
    const body = Buffer.from("the real chunk");
    const wrong = sha(new TextEncoder().encode("another chunk"));
    const err = await client
      .makeRequestStreamAsync(
        { method: "PUT", bucketName: minio.bucket, objectName: "cheap/mismatch", headers: { "Content-Length": String(body.length) } },
        body,
        wrong,
        [200],
        "",
      )
      .then(
        () => null,
        (e: Error & { code?: string }) => e,
      );
    expect(err?.code).toBe("XAmzContentSHA256Mismatch");
    expect(await store.stat("cheap/mismatch")).toBeNull();
  });
});

describe("single-part PUT refused by storage", () => {
  test("names S3's error code and is unavailable (storage not usable as configured), nothing stored", async () => {
    const wrong = openStore(parseStorageUrl(minio.url.replace(`/${minio.bucket}?`, "/no-such-bucket?"), dir));
    const err = await wrong.put("cheap/nobucket", new Uint8Array([1, 2, 3])).catch((e: AppError) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("unavailable");
    expect((err as AppError).message).toContain("NoSuchBucket");
    expect(await store.stat("cheap/nobucket")).toBeNull();
  });
});

describe("makeSegment with the chunk in memory", () => {
  test("probes the bytes it is given and returns the segment's bytes, the same as from the file", async () => {
    const ffmpeg = await locateFfmpeg(null);
    const [chunk] = await makeChunks("ts-h264-aac", 1, 1);
    const input = path.join(dir, "in.ts");
    await Bun.write(input, chunk!);
    const fromFile = await makeSegment({ ffmpeg, input, container: "mpegts", output: path.join(dir, "a.ts"), offsetSec: 3, timeoutMs: 30_000 });
    const fromBytes = await makeSegment({
      ffmpeg,
      input,
      inputBytes: chunk,
      container: "mpegts",
      output: path.join(dir, "b.ts"),
      offsetSec: 3,
      timeoutMs: 30_000,
    });
    expect(fromBytes.info).toEqual(fromFile.info);
    expect(fromBytes.durationSec).toBe(fromFile.durationSec);
    expect(sha(fromBytes.bytes)).toBe(sha(await Bun.file(path.join(dir, "b.ts")).bytes()));
    expect(sha(fromBytes.bytes)).toBe(sha(fromFile.bytes));
  });
});
