import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "minio";
import type { ObjectStore } from "../../core/storage/store.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";

// rter's own MinIO user: a policy on its bucket only, so the key on every rter node can neither
// reach MinIO's admin API nor switch off the bucket's object lock or versioning. Made with `mc`,
// as the playbooks and docs/identity.md do; the policy is the one documented there.

setDefaultTimeout(120_000);

const MC = [process.env.RTER_MC_BIN, Bun.which("mc"), path.join(process.env.HOME ?? "/root", "go", "bin", "mc")].find((p) => p && existsSync(p));
const BUCKET = "evidence";
const USER = "rter-app";
const SECRET = crypto.randomUUID().replaceAll("-", "");

/** The policy docs/identity.md prints, for bucket "evidence". */
const RTER_POLICY = {
  Version: "2012-10-17",
  Statement: [
    {
      Effect: "Allow",
      Action: [
        "s3:GetBucketLocation",
        "s3:ListBucket",
        "s3:ListBucketVersions",
        "s3:ListBucketMultipartUploads",
        "s3:GetBucketVersioning",
        "s3:GetBucketObjectLockConfiguration",
      ],
      Resource: [`arn:aws:s3:::${BUCKET}`],
    },
    {
      Effect: "Allow",
      Action: [
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
        "s3:GetObjectLegalHold",
        "s3:PutObjectLegalHold",
      ],
      Resource: [`arn:aws:s3:::${BUCKET}/*`],
    },
  ],
};

let minio: TestMinio;
let host: string;

function mc(env: Record<string, string>, ...args: string[]) {
  const r = Bun.spawnSync([MC!, "--no-color", "--json", ...args], {
    env: { ...process.env, MC_CONFIG_DIR: mkdtempSync(path.join(tmpdir(), "rter-mc-")), ...env },
    stdout: "pipe",
    stderr: "pipe",
    timeout: 30_000,
  });
  const out = r.stdout.toString() + r.stderr.toString();
  // `mc admin info` exits 0 with {"status":"error"} when refused; read the status, not just the code.
  return { ok: r.exitCode === 0 && !/"status":\s*"error"/.test(out), out };
}
const asRoot = (...args: string[]) => mc({ MC_HOST_root: `http://${minio.accessKey}:${minio.secretKey}@${host}` }, ...args);
const asApp = (...args: string[]) => mc({ MC_HOST_app: `http://${USER}:${SECRET}@${host}` }, ...args);

describe.skipIf(!MC)("rter on a MinIO user limited to its bucket", () => {
  let app: TestApp;
  let store: ObjectStore;

  beforeAll(async () => {
    minio = await startMinio();
    host = `${minio.endPoint}:${minio.port}`;
    const root = new Client({
      endPoint: minio.endPoint,
      port: minio.port,
      useSSL: false,
      accessKey: minio.accessKey,
      secretKey: minio.secretKey,
      region: "us-east-1",
    });
    await root.makeBucket(BUCKET, "us-east-1", { ObjectLocking: true });
    await root.makeBucket("other-bucket", "us-east-1");
    const policyFile = path.join(mkdtempSync(path.join(tmpdir(), "rter-policy-")), "rter.json");
    writeFileSync(policyFile, JSON.stringify(RTER_POLICY));
    for (const args of [
      ["admin", "policy", "create", "root", "rter-evidence", policyFile],
      ["admin", "user", "add", "root", USER, SECRET],
      ["admin", "policy", "attach", "root", "rter-evidence", "--user", USER],
    ]) {
      const r = asRoot(...args);
      if (!r.ok) throw new Error(`mc ${args.join(" ")}: ${r.out}`);
    }
    const url = `s3://${USER}:${SECRET}@${host}/${BUCKET}?tls=false&object_lock=true`;
    app = await startTestApp({ "database-url": await testDatabaseUrl(), "storage-url": url, roles: "api" });
    store = app.rt.store;
  });
  afterAll(async () => {
    await app?.stop();
    await minio?.stop();
  });

  test("rter starts on them with object lock and does everything it does with storage", async () => {
    expect(store.objectLock()).toBe(true);
    expect((await app.request("/readyz")).status).toBe(200);
    const big = new Uint8Array(9 * 1024 * 1024).map((_, i) => i % 251); // multipart
    const put = await store.put("streams/a/big.mp4", big);
    expect(put.size).toBe(big.length);
    expect((await store.getBytes("streams/a/big.mp4", { start: 10, end: 19 })).length).toBe(10);
    expect((await store.stat("streams/a/big.mp4"))?.size).toBe(big.length);
    await store.put("streams/a/small.mp4", new TextEncoder().encode("evidence"));
    const keys: string[] = [];
    for await (const o of store.list("streams/a/")) keys.push(o.key);
    expect(keys).toEqual(["streams/a/big.mp4", "streams/a/small.mp4"]);
    await store.setLegalHold("streams/a/small.mp4", true);
    expect(await store.legalHold("streams/a/small.mp4")).toBe(true);
    await expect(store.delete("streams/a/small.mp4")).rejects.toMatchObject({ code: "conflict" });
    expect(new TextDecoder().decode(await store.getBytes("streams/a/small.mp4"))).toBe("evidence");
    // Straight to MinIO with rter's key: an overwrite is a new version, the held one stays and
    // cannot be removed.
    const own = new Client({ endPoint: minio.endPoint, port: minio.port, useSSL: false, accessKey: USER, secretKey: SECRET, region: "us-east-1" });
    const heldVersions: string[] = [];
    for await (const o of own.listObjects(BUCKET, "streams/a/small.mp4", true, { IncludeVersion: true }))
      heldVersions.push((o as { versionId: string }).versionId);
    expect(heldVersions).toHaveLength(1);
    await own.putObject(BUCKET, "streams/a/small.mp4", Buffer.from("tampered"));
    const kept = await own.getObject(BUCKET, "streams/a/small.mp4", { versionId: heldVersions[0]! });
    expect(await new Response(kept as unknown as ReadableStream).text()).toBe("evidence");
    const refused = await own.removeObject(BUCKET, "streams/a/small.mp4", { versionId: heldVersions[0]! }).then(
      () => null,
      (e: Error) => e.message,
    );
    expect(refused).toMatch(/WORM|legal hold/i);
    // Released in the database: rter lifts its own hold and removes every version.
    await store.delete("streams/a/small.mp4", { liftLegalHold: true });
    await store.delete("streams/a/big.mp4");
    expect(await store.stat("streams/a/small.mp4")).toBeNull();
  });

  test("the admin API refuses them: no server info, no users, no policies", () => {
    for (const args of [
      ["admin", "info", "app"],
      ["admin", "user", "add", "app", "intruder", "intruder-secret-123"],
      ["admin", "policy", "attach", "app", "consoleAdmin", "--user", USER],
      ["admin", "user", "list", "app"],
    ]) {
      const r = asApp(...args);
      expect({ args, ok: r.ok }).toEqual({ args, ok: false });
      expect(r.out).toMatch(/Access Denied|AccessDenied|not authorized|Insufficient permissions/i);
    }
  });

  test("outside the bucket, and on the bucket's lock and versioning, they are refused", () => {
    for (const args of [
      ["mb", "app/new-bucket"],
      ["ls", "app/other-bucket"],
      ["cp", "/etc/hostname", "app/other-bucket/x"],
      ["rb", "--force", `app/${BUCKET}`],
      ["version", "suspend", `app/${BUCKET}`],
      ["retention", "clear", "--default", `app/${BUCKET}`],
    ]) {
      const r = asApp(...args);
      expect({ args, ok: r.ok }).toEqual({ args, ok: false });
      expect(r.out).toMatch(/Access Denied|AccessDenied|not authorized|Insufficient permissions/i);
    }
    // The root key is the one that can, so the refusals above are the policy's doing.
    expect(asRoot("ls", "root/other-bucket").ok).toBe(true);
  });
});
