import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTestApp, type TestApp } from "../support/app.ts";
import { startMinio, type TestMinio } from "../support/minio.ts";
import { testDatabaseUrl } from "../support/postgres.ts";
import { bearer, makeCast, type Cast } from "../support/security.ts";

// Watching is many small reads (a low-latency CMAF tile reloads its playlist and fetches a part
// several times a second): HLS reads count in a per-user playback bucket of their own, so a grid
// of live tiles neither uses up the API budget nor is throttled by it — and is still bounded.

let app: TestApp;
let minio: TestMinio;
let cast: Cast;

beforeAll(async () => {
  minio = await startMinio();
  app = await startTestApp({
    "database-url": await testDatabaseUrl(),
    "storage-url": minio.url,
    roles: "api",
    "rate-limit": "20/1m",
    "rate-limit-user": "20/1m",
    "rate-limit-playback": "60/1m",
  });
  cast = await makeCast(app);
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await minio?.stop();
});

const get = (path: string, token: string) => fetch(`${app.url}${path}`, { headers: bearer(token) }).then(async (r) => (await r.arrayBuffer(), r));

test("playlist reads use the playback bucket: 50 reloads leave the API budget whole; the 61st read is a 429 naming playback", async () => {
  const token = cast.tokens.operator;
  const created = await fetch(`${app.url}/api/v1/streams`, {
    method: "POST",
    headers: { ...bearer(cast.tokens.reporter), "content-type": "application/json" },
    body: '{"title":"tile"}',
  });
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };

  for (let i = 0; i < 50; i++) {
    const r = await get(`/api/v1/streams/${id}/hls/index.m3u8`, token);
    expect(r.status).toBe(200);
    expect(r.headers.get("ratelimit-policy") ?? "").toContain("playback");
  }
  // The API budget (20/min) is untouched by those 50 reads.
  for (let i = 0; i < 15; i++) expect((await get(`/api/v1/streams/${id}`, token)).status).toBe(200);

  const statuses: number[] = [];
  for (let i = 0; i < 15; i++) statuses.push((await get(`/api/v1/streams/${id}/hls/index.m3u8`, token)).status);
  expect(statuses.slice(0, 10).every((s) => s === 200)).toBe(true);
  expect(statuses.at(-1)).toBe(429);
  const over = await fetch(`${app.url}/api/v1/streams/${id}/hls/index.m3u8`, { headers: bearer(token) });
  expect(over.status).toBe(429);
  expect(Number(over.headers.get("retry-after"))).toBeGreaterThan(0);
  expect(((await over.json()) as { detail: string }).detail).toContain("playback reads");
  // Other API calls still have their own budget left.
  expect((await get(`/api/v1/streams/${id}`, token)).status).toBe(200);
}, 60_000);

test("the playback bucket is per user: another operator is not throttled by the first one's grid", async () => {
  const created = await fetch(`${app.url}/api/v1/streams`, {
    method: "POST",
    headers: { ...bearer(cast.tokens.reporter2), "content-type": "application/json" },
    body: '{"title":"tile 2"}',
  });
  const { id } = (await created.json()) as { id: string };
  for (let i = 0; i < 5; i++) expect((await get(`/api/v1/streams/${id}/hls/index.m3u8`, cast.tokens.admin)).status).toBe(200);
}, 30_000);
