import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readTar } from "../../core/evidence/tar-reader.ts";
import { verifyPackage } from "../../core/evidence/verify.ts";
import { json, startTestApp, type TestApp } from "../support/app.ts";
import { makeCmaf } from "../support/cmaf.ts";
import { contentTypeOf, makeChunks } from "../support/media.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { usersWithTokens } from "../support/security.ts";

// An evidence package of two streams and items, built by the real worker from MinIO, downloaded,
// verified by `rter evidence verify` and by the standard-tool procedure of docs/evidence.md; then
// one byte flipped in each file (and in the manifest, and in the signature) must be named.
let app: TestApp;
let minio: TestMinio;
let tokens: Record<string, string>;
let dir: string;
const OP = "op@city.example";
const R1 = "r1@city.example";
const R2 = "r2@city.example";
const ADMIN = "admin@city.example";
const VIEWER = "v@city.example";

beforeAll(async () => {
  minio = await startMinio();
  app = await startTestApp({ "database-url": await testDatabaseUrl(), "storage-url": minio.url, roles: "api,worker", "worker-concurrency": "2" });
  tokens = await usersWithTokens(app, [
    [ADMIN, "admin"],
    [OP, "operator"],
    [R1, "reporter"],
    [R2, "reporter"],
    [VIEWER, "viewer"],
  ]);
  dir = mkdtempSync(join(tmpdir(), "rter-evidence-test-"));
}, 120_000);
afterAll(async () => {
  await app?.stop();
  await minio?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const auth = (email: string) => ({ authorization: `Bearer ${tokens[email]}` });
async function call(email: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await app.request(path, body === undefined ? { method, headers: auth(email) } : json(body, { method, headers: auth(email) }));
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

async function liveStream(email: string, title: string, n: number, tags: string[] = []): Promise<string> {
  const s = await call(email, "POST", "/api/v1/streams", { title, tags });
  expect(s.status).toBe(201);
  const chunks = await makeChunks("ts-h264-aac", n, 1, "160x120");
  const t0 = Date.now() - 60_000;
  for (const [seq, bytes] of chunks.entries()) {
    const r = await app.request(`/api/v1/streams/${s.body.id}/chunks/${seq}`, {
      method: "PUT",
      headers: { ...auth(email), "content-type": contentTypeOf("ts-h264-aac"), "x-chunk-start": String(t0 + seq * 1000) },
      body: bytes,
    });
    expect(r.status).toBe(201);
  }
  const samples = Array.from({ length: n }, (_, i) => ({ t: t0 + i * 1000, lat: 45.5 + i * 0.001, lng: -73.57, heading: 90 + i }));
  expect((await call(email, "POST", `/api/v1/streams/${s.body.id}/telemetry`, { samples })).status).toBe(200);
  return s.body.id;
}

/** A CMAF stream as a WebCodecs phone sends it: the init, then 0.25-s parts. */
async function cmafStream(email: string, title: string): Promise<string> {
  const s = await call(email, "POST", "/api/v1/streams", { title });
  expect(s.status).toBe(201);
  const media = await makeCmaf({ seconds: 2, size: "160x120" });
  expect(
    (await app.request(`/api/v1/streams/${s.body.id}/init`, { method: "PUT", headers: { ...auth(email), "content-type": "video/mp4" }, body: media.init }))
      .status,
  ).toBe(201);
  for (const [seq, bytes] of media.chunks.entries()) {
    const r = await app.request(`/api/v1/streams/${s.body.id}/chunks/${seq}`, {
      method: "PUT",
      headers: { ...auth(email), "content-type": "video/iso.segment" },
      body: bytes,
    });
    expect(r.status).toBe(201);
  }
  return s.body.id;
}

async function until<T>(what: string, f: () => Promise<T | undefined | null | false>, ms = 120_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(250);
  }
}

async function rter(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(["bun", join(import.meta.dir, "../../cmd/rter.ts"), ...args], { stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, out, err };
}

/** The block of docs/evidence.md between its verify-procedure markers, run by bash as written. */
async function documentedProcedure(pkg: string, key: string): Promise<{ code: number; out: string }> {
  const md = readFileSync(join(import.meta.dir, "../../docs/evidence.md"), "utf8");
  const block = /<!-- verify-procedure:start -->\s*```sh\n([\s\S]*?)```\s*<!-- verify-procedure:end -->/.exec(md)?.[1];
  expect(block).toBeTruthy();
  const p = Bun.spawn(["bash", "-c", block!], { env: { ...process.env, PACKAGE: pkg, KEY: key }, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, out: out + err };
}

function flipped(buf: Uint8Array, at: number): Uint8Array {
  const copy = new Uint8Array(buf);
  copy[at] = copy[at]! ^ 0x01;
  return copy;
}

let pkg: Uint8Array;
let pkgPath: string;
let keyPath: string;
let streamA: string;
let streamB: string;
let streamC: string;

describe("evidence package", () => {
  test("two streams and items: built by a batch job, progress as events, downloaded (audited), verified", async () => {
    streamA = await liveStream(R1, "bridge", 3, ["flood"]);
    streamB = await liveStream(R2, "river bank", 2, ["flood"]);
    streamC = await cmafStream(R1, "phone, CMAF");
    expect((await call(OP, "PUT", `/api/v1/streams/${streamA}/guidance`, { heading: 180, message: "point at the bridge" })).status).toBe(200);
    expect((await call(R1, "POST", `/api/v1/streams/${streamA}/finish`)).status).toBe(200);
    expect((await call(R2, "POST", `/api/v1/streams/${streamB}/finish`)).status).toBe(200);
    await until("recordings", async () => {
      const [a, b] = await Promise.all([call(OP, "GET", `/api/v1/streams/${streamA}`), call(OP, "GET", `/api/v1/streams/${streamB}`)]);
      return a.body.recording && b.body.recording;
    });
    const text = await call(OP, "POST", "/api/v1/items", { kind: "text", title: "Water over the road", body: "ankle deep", lat: 45.5, lng: -73.56 });
    const png = Uint8Array.from(atob("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="), (c) =>
      c.charCodeAt(0),
    );
    const photo = await app.request("/api/v1/items/photos?title=Roof", { method: "POST", headers: { ...auth(R1), "content-type": "image/png" }, body: png });
    expect(photo.status).toBe(201);
    const photoId = ((await photo.json()) as { id: string }).id;

    const req = await call(OP, "POST", "/api/v1/exports", { streams: [streamA, streamB, streamC], items: [text.body.id, photoId] });
    expect(req.status).toBe(202);
    expect(req.body.state).toBe("queued");
    expect(req.body.streams).toBe(3);
    expect(req.body.items).toBe(5); // the two items asked for and the three streams' own items
    const id = req.body.id;
    const ready = await until("the package", async () => {
      const r = await call(OP, "GET", `/api/v1/exports/${id}`);
      expect(r.body.state).not.toBe("failed");
      return r.body.state === "ready" ? r.body : undefined;
    });
    expect(ready.download_url).toBe(`/api/v1/exports/${id}/download`);
    expect(ready.progress).toBe(1);
    const db = app.rt.database.db;
    const events = await db.selectFrom("events").select("data").where("type", "=", "export.progress").orderBy("id").execute();
    const states = events
      .map((e) => e.data as any)
      .filter((d) => d.export_id === id)
      .map((d) => d.state);
    expect(states[0]).toBe("queued");
    expect(states).toContain("building");
    expect(states[states.length - 1]).toBe("ready");

    const dl = await app.request(ready.download_url, { headers: auth(OP) });
    expect(dl.status).toBe(200);
    pkg = new Uint8Array(await dl.arrayBuffer());
    expect(createHash("sha256").update(pkg).digest("hex")).toBe(dl.headers.get("x-content-sha256")!);
    expect(dl.headers.get("x-content-sha256")).toBe(ready.sha256);
    const audited = await db.selectFrom("audit_log").select(["action", "actor_email"]).where("target_id", "=", id).orderBy("seq").execute();
    expect(audited.map((a) => a.action)).toEqual(["export.requested", "export.built", "export.downloaded"]);
    expect(audited[2]!.actor_email).toBe(OP);

    const key = await call(ADMIN, "GET", "/api/v1/admin/signing-key");
    expect(key.status).toBe(200);
    expect(key.body.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    pkgPath = join(dir, "package.tar");
    keyPath = join(dir, "key.pem");
    writeFileSync(pkgPath, pkg);
    writeFileSync(keyPath, key.body.public_key_pem);

    // What is inside: every chunk as uploaded, recordings, telemetry, guidance, items, photo, audit.
    const files = new Map(readTar(pkg).map((f) => [f.path.split("/").slice(1).join("/"), f.data]));
    for (const [sid, n] of [
      [streamA, 3],
      [streamB, 2],
    ] as const) {
      const chunks = await db.selectFrom("chunks").select(["seq", "sha256"]).where("stream_id", "=", sid).orderBy("seq").execute();
      expect(chunks.length).toBe(n);
      for (const c of chunks) {
        const data = files.get(`streams/${sid}/chunks/${String(c.seq).padStart(6, "0")}.ts`);
        expect(data).toBeDefined();
        expect(createHash("sha256").update(data!).digest("hex")).toBe(c.sha256);
      }
      expect(files.has(`streams/${sid}/recording.mp4`)).toBe(true);
      const geo = JSON.parse(new TextDecoder().decode(files.get(`streams/${sid}/telemetry.geojson`)));
      expect(geo.type).toBe("FeatureCollection");
      expect(geo.features.filter((f: any) => f.geometry.type === "Point").length).toBe(n);
      expect(geo.features[0].geometry.coordinates).toEqual([-73.57, 45.5]);
    }
    // The CMAF stream: its init and every part, byte for byte.
    const init = await db.selectFrom("stream_inits").select("sha256").where("stream_id", "=", streamC).executeTakeFirstOrThrow();
    expect(
      createHash("sha256")
        .update(files.get(`streams/${streamC}/init.mp4`)!)
        .digest("hex"),
    ).toBe(init.sha256);
    const parts = await db.selectFrom("chunks").select(["seq", "sha256", "state"]).where("stream_id", "=", streamC).orderBy("seq").execute();
    expect(parts.length).toBeGreaterThan(4);
    for (const c of parts)
      expect(
        createHash("sha256")
          .update(files.get(`streams/${streamC}/chunks/${String(c.seq).padStart(6, "0")}.m4s`)!)
          .digest("hex"),
      ).toBe(c.sha256);
    expect(JSON.parse(new TextDecoder().decode(files.get(`streams/${streamA}/guidance.json`)))[0].message).toBe("point at the bridge");
    expect(new Uint8Array(files.get(`items/photos/${photoId}.png`)!)).toEqual(png);
    const audit = new TextDecoder()
      .decode(files.get("audit/audit.ndjson"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(audit.filter((a) => a.entry.action === "chunk.stored" && a.entry.target_id !== streamC).length).toBe(5);
    expect(audit.filter((a) => a.entry.action === "chunk.stored" && a.entry.target_id === streamC).length).toBe(
      (await db.selectFrom("chunks").select("seq").where("stream_id", "=", streamC).execute()).length,
    );
    expect(audit.some((a) => a.entry.action === "export.requested")).toBe(true);
    const info = JSON.parse(new TextDecoder().decode(files.get("export.json")));
    expect(info.audit_head.seq).toBe(ready.audit_head_seq);

    const ok = await rter(["evidence", "verify", pkgPath, "--key", keyPath]);
    expect(ok.out).toContain("OK ");
    expect(ok.code).toBe(0);
    const own = await rter(["evidence", "verify", pkgPath]);
    expect(own.code).toBe(0);
    expect(own.out).toContain(key.body.fingerprint);
    const docs = await documentedProcedure(pkgPath, keyPath);
    expect(docs.out).toContain("Signature Verified Successfully");
    expect(docs.out).toContain("package verified");
    expect(docs.code).toBe(0);
  }, 240_000);

  test("one flipped byte in any file, in the manifest or in the signature is named; nothing else passes", async () => {
    expect(pkg).toBeDefined();
    const entries = readTar(pkg);
    for (const f of entries) {
      const name = f.path.split("/").slice(1).join("/");
      const bad = flipped(pkg, f.data.byteOffset + Math.floor(f.data.length / 2));
      const r = verifyPackage(bad, { publicKeyPem: readFileSync(keyPath, "utf8") });
      expect(r.ok).toBe(false);
      expect(r.problems.join("\n")).toContain(name);
    }
    // The CLI and the documented procedure, on a chunk, on MANIFEST and on MANIFEST.sig.
    const pick = (n: string) => entries.find((f) => f.path.endsWith(n))!;
    for (const target of [pick("chunks/000001.ts"), pick("/MANIFEST"), pick("/MANIFEST.sig"), pick("audit/audit.ndjson")]) {
      const name = target.path.split("/").slice(1).join("/");
      const path = join(dir, "flipped.tar");
      writeFileSync(path, flipped(pkg, target.data.byteOffset + Math.floor(target.data.length / 2)));
      const cli = await rter(["evidence", "verify", path, "--key", keyPath]);
      expect(cli.code).toBe(1);
      expect(cli.out).toContain(`FAILED ${name}`);
      const docs = await documentedProcedure(path, keyPath);
      expect(docs.code).not.toBe(0);
      expect(docs.out).not.toContain("package verified");
      if (name.includes("chunks/")) expect(docs.out).toContain(`${name}: FAILED`);
    }
    // A key that is not the appliance's.
    const other = join(dir, "other.pem");
    const { publicKey } = await import("node:crypto").then((c) => c.generateKeyPairSync("ed25519"));
    writeFileSync(other, publicKey.export({ type: "spki", format: "pem" }));
    const wrongKey = await rter(["evidence", "verify", pkgPath, "--key", other]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.out).toContain("MANIFEST.sig");
    expect((await documentedProcedure(pkgPath, other)).code).not.toBe(0);
  }, 240_000);

  test("an object altered or deleted behind rter's back fails the package, named, never exported", async () => {
    const db = app.rt.database.db;
    for (const damage of ["alter", "delete"] as const) {
      const sid = await liveStream(R1, `damaged ${damage}`, 2);
      const chunk = await db.selectFrom("chunks").select("object_key").where("stream_id", "=", sid).where("seq", "=", 1).executeTakeFirstOrThrow();
      if (damage === "alter") await app.rt.store.put(chunk.object_key, new Uint8Array(4096).fill(1));
      else await app.rt.store.delete(chunk.object_key);
      const req = await call(OP, "POST", "/api/v1/exports", { streams: [sid] });
      expect(req.status).toBe(202);
      const done = await until("the refusal", async () => {
        const r = await call(OP, "GET", `/api/v1/exports/${req.body.id}`);
        return r.body.state === "failed" ? r.body : undefined;
      });
      expect(done.error).toContain(chunk.object_key);
      expect(done.error).toMatch(damage === "alter" ? /no longer matches/ : /missing/);
      expect(done.download_url).toBeNull();
      expect((await call(OP, "GET", `/api/v1/exports/${req.body.id}/download`)).status).toBe(409);
      const log = await db.selectFrom("audit_log").select("action").where("target_id", "=", req.body.id).orderBy("seq").execute();
      expect(log.map((l) => l.action)).toEqual(["export.requested", "export.failed"]);
    }
  }, 120_000);

  test("bad input to the verifier: one line on stderr, exit 2", async () => {
    const cases: [string, Uint8Array | null, RegExp][] = [
      ["missing.tar", null, /no such file/],
      ["empty.tar", new Uint8Array(0), /empty/],
      ["text.tar", new TextEncoder().encode("hello, this is not a tar archive at all ".repeat(40)), /not a tar archive/],
      ["truncated.tar", pkg.subarray(0, Math.floor(pkg.length / 2)), /truncated/],
      ["header-cut.tar", pkg.subarray(0, 700), /truncated/],
      // Cut exactly between two entries, and just before the end-of-archive blocks.
      ["entry-boundary.tar", pkg.subarray(0, readTar(pkg)[3]!.data.byteOffset + Math.ceil(readTar(pkg)[3]!.data.length / 512) * 512), /truncated/],
      [
        "no-end.tar",
        pkg.subarray(
          0,
          (() => {
            const last = readTar(pkg).at(-1)!;
            return last.data.byteOffset + Math.ceil(last.data.length / 512) * 512;
          })(),
        ),
        /truncated/,
      ],
    ];
    for (const [name, bytes, why] of cases) {
      const path = join(dir, name);
      if (bytes) writeFileSync(path, bytes);
      const r = await rter(["evidence", "verify", path]);
      expect(r.code).toBe(2);
      expect(r.err.trim().split("\n").length).toBe(1);
      expect(r.err).toMatch(why);
    }
    expect((await rter(["evidence", "check", pkgPath])).code).toBe(2);
    expect((await rter(["evidence", "verify"])).code).toBe(2);
  }, 60_000);

  test("hostile requests get precise 4xx; reporters and viewers cannot export", async () => {
    const bad: [unknown, number][] = [
      [{}, 400],
      [{ streams: "x" }, 400],
      [{ streams: [1] }, 400],
      [{ streams: ["not-a-uuid"] }, 400],
      [{ streams: Array.from({ length: 101 }, () => crypto.randomUUID()) }, 400],
      [{ items: Array.from({ length: 1001 }, () => crypto.randomUUID()) }, 400],
      [{ streams: [crypto.randomUUID()] }, 404],
      [{ items: [crypto.randomUUID()] }, 404],
      [{ tag: "no-such-tag" }, 404],
      [{ tag: "" }, 400],
      [{ from: "yesterday" }, 400],
      [{ from: 5 }, 400],
      [{ from: "2026-01-02T00:00:00Z", to: "2026-01-01T00:00:00Z" }, 400],
      [{ from: "2001-01-01T00:00:00Z", to: "2001-01-02T00:00:00Z" }, 422],
      [{ streams: [streamA], extra: true }, 400],
      [[streamA], 400],
      ["x", 400],
    ];
    for (const [body, status] of bad) {
      const r = await call(OP, "POST", "/api/v1/exports", body);
      expect({ body, status: r.status }).toEqual({ body, status });
      expect(r.headers.get("content-type")).toContain("application/problem+json");
    }
    expect((await call(OP, "GET", `/api/v1/exports/${crypto.randomUUID()}`)).status).toBe(404);
    expect((await call(OP, "GET", "/api/v1/exports/nope")).status).toBe(400);
    expect((await call(OP, "GET", `/api/v1/exports/${crypto.randomUUID()}/download`)).status).toBe(404);
    for (const who of [R1, VIEWER]) {
      expect((await call(who, "POST", "/api/v1/exports", { streams: [streamA] })).status).toBe(403);
      expect((await call(who, "GET", "/api/v1/exports")).status).toBe(403);
      expect((await call(who, "GET", "/api/v1/admin/signing-key")).status).toBe(403);
    }
    // A retried request with its Idempotency-Key gets the same export; another body with it is 422.
    const once = async (body: unknown) => app.request("/api/v1/exports", json(body, { headers: { ...auth(OP), "idempotency-key": "case-42-export" } }));
    const first = await once({ streams: [streamB] });
    const again = await once({ streams: [streamB] });
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(((await again.json()) as any).id).toBe(((await first.json()) as any).id);
    expect((await once({ streams: [streamA] })).status).toBe(422);
    // A workspace export: both streams carry the tag.
    const byTag = await call(ADMIN, "POST", "/api/v1/exports", { tag: "flood" });
    expect(byTag.status).toBe(202);
    expect(byTag.body.streams).toBe(2);
  }, 60_000);
});
