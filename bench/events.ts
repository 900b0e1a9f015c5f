// bench events: 200 SSE clients (100 on each of two API nodes, the compiled binary) while items
// are created through node A. Prints events/s written, frames/s delivered, and the fan-out
// latency from "POST sent" to "frame read" at every client, for a paced and a burst phase.
import { startRter, type RterProcess } from "../test/support/rter-process.ts";
import { fmt, getFixture, pct, table, type Figure } from "./lib.ts";

const CLIENTS = 200;
const PACED_PER_S = 20;
const PACED_S = 5;
const BURST_S = 5;
const BURST_CONCURRENCY = 8;

interface Client {
  got: Map<string, number>;
  close(): void;
  ready: Promise<void>;
}

/** One SSE reader: records when each bench item's frame arrived (by the item title). */
function openClient(url: string, token: string, lat: number[]): Client {
  const ctl = new AbortController();
  const got = new Map<string, number>();
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  void (async () => {
    try {
      const res = await fetch(`${url}/api/v1/events`, { headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" }, signal: ctl.signal });
      ready();
      const dec = new TextDecoder();
      let buf = "";
      for await (const chunk of res.body!) {
        buf += dec.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (!frame.includes("event: item.created")) continue;
          const m = /"title":"bench (\d+) (\d+(?:\.\d+)?)"/.exec(frame);
          if (!m) continue;
          const now = performance.timeOrigin + performance.now();
          got.set(m[1]!, now);
          lat.push(now - Number(m[2]));
        }
      }
    } catch {
      ready();
    }
  })();
  return { got, close: () => ctl.abort(), ready: readyP };
}

export async function run(): Promise<Figure[]> {
  const fx = await getFixture();
  const nodes: RterProcess[] = [];
  const clients: Client[] = [];
  try {
    for (let i = 0; i < 2; i++)
      nodes.push(await startRter({ binary: fx.binary, env: { ...fx.env, RTER_LOG_LEVEL: "error", RTER_DB_POOL_MAX: "20" }, args: ["--roles", "api"] }));
    await Promise.all(nodes.map((n) => n.waitReady(60_000)));
    const [a, b] = nodes as [RterProcess, RterProcess];
    let seq = 0;
    const post = async () => {
      const id = String(seq++);
      const r = await fetch(`${a.url}/api/v1/items`, {
        method: "POST",
        headers: { authorization: `Bearer ${fx.token}`, "content-type": "application/json" },
        body: JSON.stringify({ kind: "text", title: `bench ${id} ${performance.timeOrigin + performance.now()}` }),
      });
      await r.arrayBuffer();
      if (r.status !== 201) throw new Error(`POST /items answered ${r.status}`);
      return id;
    };
    const figures: Figure[] = [];
    const rows: (string | number)[][] = [];
    for (const phase of ["paced", "burst"] as const) {
      const lat: number[] = [];
      clients.splice(0).forEach((c) => c.close());
      for (let i = 0; i < CLIENTS; i++) clients.push(openClient(i % 2 ? b.url : a.url, fx.token, lat));
      await Promise.all(clients.map((c) => c.ready));
      await Bun.sleep(500);
      const ids: string[] = [];
      const t0 = performance.now();
      if (phase === "paced") {
        for (let i = 0; i < PACED_PER_S * PACED_S; i++) {
          ids.push(await post());
          const next = t0 + ((i + 1) * 1000) / PACED_PER_S;
          const wait = next - performance.now();
          if (wait > 0) await Bun.sleep(wait);
        }
      } else {
        const until = t0 + BURST_S * 1000;
        await Promise.all(
          Array.from({ length: BURST_CONCURRENCY }, async () => {
            while (performance.now() < until) ids.push(await post());
          }),
        );
      }
      const writeS = (performance.now() - t0) / 1000;
      // Bounded wait for the last frames to reach every client.
      const deadline = performance.now() + 20_000;
      const want = ids.length * CLIENTS;
      const delivered = () => clients.reduce((n, c) => n + ids.filter((id) => c.got.has(id)).length, 0);
      while (performance.now() < deadline && delivered() < want) await Bun.sleep(200);
      const spanS = (performance.now() - t0) / 1000;
      const d = delivered();
      rows.push([
        phase,
        ids.length,
        fmt(ids.length / writeS),
        fmt(d / spanS, 0),
        `${d}/${want}`,
        fmt(pct(lat, 50)),
        fmt(pct(lat, 95)),
        fmt(pct(lat, 99)),
        fmt(Math.max(...lat)),
      ]);
      figures.push(
        { bench: "events", what: `${phase}: events written/s`, value: fmt(ids.length / writeS), unit: "events/s" },
        { bench: "events", what: `${phase}: frames delivered/s (${CLIENTS} clients, 2 nodes)`, value: fmt(d / spanS, 0), unit: "frames/s" },
        { bench: "events", what: `${phase}: fan-out latency p50 / p95`, value: `${fmt(pct(lat, 50))} / ${fmt(pct(lat, 95))}`, unit: "ms" },
        { bench: "events", what: `${phase}: frames lost`, value: String(want - d), unit: "frames" },
      );
    }
    table(["phase", "events", "written/s", "delivered/s", "delivered", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows);
    return figures;
  } finally {
    clients.forEach((c) => c.close());
    await Promise.all(nodes.map((n) => n.stop("SIGTERM").catch(() => 0)));
  }
}
