import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Client } from "minio";
import { openStore, parseStorageUrl } from "../../core/storage/open.ts";
import type { ObjectStore } from "../../core/storage/store.ts";
import { startTestApp } from "../support/app.ts";
import { freePort, startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { runCli } from "../support/rter-process.ts";

setDefaultTimeout(60_000);

let minio: TestMinio;
let s3: Client;
const urlFor = (bucket: string, extra = "") => minio.url.replace(`/${minio.bucket}?`, `/${bucket}?`) + extra;

beforeAll(async () => {
  minio = await startMinio();
  s3 = new Client({ endPoint: minio.endPoint, port: minio.port, useSSL: false, accessKey: minio.accessKey, secretKey: minio.secretKey, region: "us-east-1" });
  await s3.makeBucket("plain-existing", "us-east-1");
  await s3.makeBucket("locked-existing", "us-east-1", { ObjectLocking: true });
});
afterAll(async () => {
  await minio?.stop();
});

describe("object_lock=true is a promise the bucket must keep", () => {
  test("an existing bucket without object lock: rter serve exits non-zero with one line naming the bucket", async () => {
    const r = await runCli(["serve", "--roles", "api", "--port", String(await freePort()), "--storage-url", urlFor("plain-existing", "&object_lock=true")], {
      DATABASE_URL: await testDatabaseUrl(),
      RTER_PORT: undefined,
      RTER_ROLES: undefined,
    });
    expect(r.code).not.toBe(0);
    const last = r.stderr.trim().split("\n").at(-1)!;
    expect(last).toMatch(/^rter: bucket "plain-existing" exists without object lock, but the storage URL says object_lock=true/);
    expect(r.stderr).not.toContain("    at ");
    // Refusing changed nothing: still an ordinary bucket.
    await expect(s3.getObjectLockConfig("plain-existing")).rejects.toThrow(/Object Lock configuration does not exist/);
  });

  test("in process too: the storage module refuses at once instead of waiting out the start-up deadline", async () => {
    const err = await startTestApp({
      "database-url": await testDatabaseUrl(),
      "storage-url": urlFor("plain-existing", "&object_lock=true"),
      roles: "api",
    }).then(
      (a) => (a.stop(), null),
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/exists without object lock/);
  });

  test("an existing bucket with object lock starts and reports it; without the flag a plain bucket still starts", async () => {
    const locked = await startTestApp({ "database-url": await testDatabaseUrl(), "storage-url": urlFor("locked-existing", "&object_lock=true"), roles: "api" });
    expect(locked.rt.store.objectLock()).toBe(true);
    expect((await locked.request("/readyz")).status).toBe(200);
    await locked.stop();
    const plain = await startTestApp({ "database-url": await testDatabaseUrl(), "storage-url": urlFor("plain-existing"), roles: "api" });
    expect(plain.rt.store.objectLock()).toBe(false);
    await plain.stop();
  });
});

describe("an object under S3 legal hold, with rter's own credentials", () => {
  let store: ObjectStore;
  const key = "streams/00000000-0000-4000-8000-000000000001/chunk-0.mp4";
  const original = new TextEncoder().encode("original evidence bytes");

  beforeAll(async () => {
    store = openStore(parseStorageUrl(urlFor("locked-existing", "&object_lock=true"), "/unused"));
    await store.ensure();
    await store.put(key, original);
    await store.setLegalHold(key, true);
  });
  afterAll(async () => {
    await store?.close();
  });

  async function versions(): Promise<{ versionId: string; isDeleteMarker?: boolean }[]> {
    const out: { versionId: string; isDeleteMarker?: boolean }[] = [];
    for await (const o of s3.listObjects("locked-existing", key, true, { IncludeVersion: true }))
      out.push(o as { versionId: string; isDeleteMarker?: boolean });
    return out;
  }

  test("delete through the store is refused (409) and the bytes stay", async () => {
    await expect(store.delete(key)).rejects.toMatchObject({ code: "conflict" });
    expect(new TextDecoder().decode(await store.getBytes(key))).toBe("original evidence bytes");
  });

  test("an overwrite cannot replace the held version: it lands as a new version, the held one is intact and undeletable", async () => {
    const held = (await versions()).filter((v) => !v.isDeleteMarker);
    expect(held).toHaveLength(1);
    const heldId = held[0]!.versionId;
    await store.put(key, new TextEncoder().encode("tampered"));
    const kept = await s3.getObject("locked-existing", key, { versionId: heldId });
    expect(await new Response(kept as unknown as ReadableStream).text()).toBe("original evidence bytes");
    const err = await s3.removeObject("locked-existing", key, { versionId: heldId }).then(
      () => null,
      (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`,
    );
    expect(err).toMatch(/WORM|legal hold/i);
    // Deleting the key as a whole (every version) still stops at the held version.
    await expect(store.delete(key)).rejects.toMatchObject({ code: "conflict" });
    expect((await versions()).some((v) => v.versionId === heldId)).toBe(true);
  });
});
