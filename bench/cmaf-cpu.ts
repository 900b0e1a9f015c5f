// CPU of the API's handlers per CMAF part PUT, playlist reload and poster PUT, in this process
// (the real app, Postgres and MinIO, driven in process: no sockets on our side, so what is left is
// what the handlers cost). Interleave runs of two trees to compare a change on a busy machine:
// process CPU per request moves much less with the load than latency does.
//   bun bench/cmaf-cpu.ts
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addUser, createToken } from "../core/auth/auth.service.ts";
import { startTestApp } from "../test/support/app.ts";
import { makeCmaf } from "../test/support/cmaf.ts";
import { startMinio } from "../test/support/minio.ts";
import { testDatabaseUrl } from "../test/support/postgres.ts";

const STREAMS = 10;
const minio = await startMinio();
const app = await startTestApp({
  "database-url": await testDatabaseUrl(),
  "storage-url": minio.url,
  roles: "api",
  "rate-limit": "1000000/1m",
  "rate-limit-user": "1000000/1m",
  "rate-limit-playback": "1000000/1m",
});
try {
  const db = app.rt.database.db;
  await addUser(db, { email: "cpu@city.example", role: "reporter", password: "long enough pw" });
  const h = { authorization: `Bearer ${(await createToken(db, { email: "cpu@city.example", name: "t", ttlMs: 3_600_000 })).token}` };
  const media = await makeCmaf({ seconds: 40 });
  const dir = mkdtempSync(join(tmpdir(), "rter-cpu-"));
  let still: Uint8Array<ArrayBuffer>;
  try {
    const r = Bun.spawnSync(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=1", "-frames:v", "1", "-q:v", "6", join(dir, "s.jpg")]);
    if (r.exitCode !== 0) throw new Error(r.stderr.toString());
    still = new Uint8Array(readFileSync(join(dir, "s.jpg")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ids: string[] = [];
  for (let s = 0; s < STREAMS; s++) {
    const r = await app.request("/api/v1/streams", { method: "POST", headers: { ...h, "content-type": "application/json" }, body: '{"title":"cpu"}' });
    const id = ((await r.json()) as { id: string }).id;
    ids.push(id);
    await app.request(`/api/v1/streams/${id}/init`, { method: "PUT", headers: { ...h, "content-type": "video/mp4" }, body: media.init });
  }
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const say = (what: string, ms: number, n: number) => console.log(`${what}: ${(ms / n).toFixed(3)} ms CPU per request (${n} requests)`);
  // Parts: each stream's in seq order, one PUT in flight per stream.
  const c0 = cpu();
  await Promise.all(
    ids.map(async (id) => {
      for (let seq = 0; seq < media.chunks.length; seq++) {
        const r = await app.request(`/api/v1/streams/${id}/chunks/${seq}`, {
          method: "PUT",
          headers: { ...h, "content-type": "video/iso.segment" },
          body: media.chunks[seq]!,
        });
        if (r.status !== 201) throw new Error(`part ${seq}: ${r.status} ${await r.text()}`);
      }
    }),
  );
  say("part PUT", cpu() - c0, media.chunks.length * STREAMS);
  async function measure(what: string, n: number, one: (i: number) => Promise<Response>) {
    for (let i = 0; i < 50; i++) await (await one(i)).arrayBuffer();
    const c1 = cpu();
    for (let i = 0; i < n; i += STREAMS) {
      for (const r of await Promise.all(Array.from({ length: STREAMS }, (_, k) => one(i + k)))) {
        if (r.status !== 200) throw new Error(`${what}: ${r.status} ${await r.text()}`);
        await r.arrayBuffer();
      }
    }
    say(what, cpu() - c1, n);
  }
  for (let round = 0; round < 2; round++) {
    await measure("playlist reload", 3000, (i) => app.request(`/api/v1/streams/${ids[i % STREAMS]}/hls/index.m3u8`, { headers: h }));
    await measure("poster PUT", 600, (i) =>
      app.request(`/api/v1/streams/${ids[i % STREAMS]}/poster`, { method: "PUT", headers: { ...h, "content-type": "image/jpeg" }, body: still }),
    );
  }
} finally {
  await app.stop();
  await minio.stop();
}
