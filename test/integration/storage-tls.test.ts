/**
 * rter → MinIO over TLS, against a real MinIO serving a certificate that a throwaway CA (openssl)
 * issued: the storage URL's ca= makes the S3 client trust that CA and only it; without it, with
 * another CA, or in plaintext, nothing is stored.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { openStore, parseStorageUrl } from "../../core/storage/open.ts";
import { AppError } from "../../core/errors.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { makeTestCa, type TestCa } from "../support/tls.ts";

setDefaultTimeout(60_000);

let ca: TestCa;
let minio: TestMinio;

beforeAll(async () => {
  ca = makeTestCa("rter internal CA");
  minio = await startMinio({ tls: { ...ca.issue("minio", ["IP:127.0.0.1", "DNS:localhost"]), caFile: ca.caFile } });
});

afterAll(async () => {
  await minio?.stop();
});

/** The store the URL describes, with few retries so a refused handshake fails fast. */
function storeFor(url: string) {
  return openStore(parseStorageUrl(url.replace(/\?/, "?retries=0&timeout_ms=5000&"), "/unused"));
}

async function failure(p: Promise<unknown>): Promise<string> {
  return await p.then(
    () => "succeeded",
    (e: unknown) => `${e instanceof AppError ? e.code : "error"}: ${(e as Error).message}`,
  );
}

describe("S3 storage over TLS with the internal CA", () => {
  test("ca= in the storage URL: the bucket is made, an object goes in and comes back intact", async () => {
    expect(minio.url).toContain("?ca=");
    const store = storeFor(minio.url);
    await store.ensure();
    const body = new TextEncoder().encode("evidence over TLS ".repeat(1000));
    const put = await store.put("tls/check.bin", body);
    expect(put.size).toBe(body.length);
    const back = await Bun.readableStreamToBytes(await store.get("tls/check.bin"));
    expect(new Bun.CryptoHasher("sha256").update(back).digest("hex")).toBe(put.sha256);
    await store.close();
  });

  test("without ca= the public CAs do not vouch for the internal certificate: refused", async () => {
    const store = storeFor(minio.url.replace(/\?ca=[^&]*/, "?tls=true"));
    expect(await failure(store.put("tls/refused.bin", new Uint8Array([1, 2, 3])))).toMatch(/certificate|verify/i);
    await store.close();
  });

  test("another CA (same name, other key) is refused", async () => {
    const other = makeTestCa("rter internal CA");
    const store = storeFor(minio.url.replace(/\?ca=[^&]*/, `?ca=${encodeURIComponent(other.caFile)}`));
    expect(await failure(store.put("tls/refused.bin", new Uint8Array([1, 2, 3])))).toMatch(/certificate|verify|signature/i);
    await store.close();
  });

  test("a plaintext attempt on MinIO's port gets no S3 answer", async () => {
    const store = storeFor(minio.url.replace(/\?ca=[^&]*/, "?tls=false"));
    expect(await failure(store.put("tls/plain.bin", new Uint8Array([1, 2, 3])))).not.toBe("succeeded");
    // MinIO answers a plaintext request on its TLS port with 400 "Client sent an HTTP request to an HTTPS server", never with S3.
    const res = await fetch(`http://${minio.endPoint}:${minio.port}/minio/health/live`).then(
      (r) => r.status,
      (e: Error) => e.message,
    );
    expect(res).not.toBe(200);
    await store.close();
  });

  test("nothing of the refused attempts was stored", async () => {
    const store = storeFor(minio.url);
    const keys: string[] = [];
    for await (const o of store.list("tls/")) keys.push(o.key);
    expect(keys).toEqual(["tls/check.bin"]);
    await store.close();
  });
});
