// bench hostile: a bystander's latency while attackers send each family of pathological JSON
// bodies (test/support/hostile-bodies.ts) to every JSON route of one API node (the compiled
// binary). Prints p50/p99 of GET /healthz and of an authenticated GET /api/v1/items, quiet and
// under each family, and how many hostile requests per second the node refused meanwhile.
import { HOSTILE_BODIES, jsonRoutes, sendHostile, type HostileBody, type JsonRoute } from "../test/support/hostile-bodies.ts";
import { startRter, type RterProcess } from "../test/support/rter-process.ts";
import { fmt, getFixture, pct, runAlone, table, type Figure } from "./lib.ts";

const PHASE_S = Number(process.env.BENCH_HOSTILE_SECONDS ?? 2);
const ATTACKERS = 4;

/** One closed-loop bystander: sends the next request as soon as the last answered. */
async function probe(url: string, headers: Record<string, string>, until: number): Promise<{ lat: number[]; bad: number }> {
  const lat: number[] = [];
  let bad = 0;
  while (performance.now() < until) {
    const t0 = performance.now();
    const status = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) }).then(
      async (r) => (await r.arrayBuffer(), r.status),
      () => 0,
    );
    lat.push(performance.now() - t0);
    if (status !== 200) bad++;
  }
  return { lat, bad };
}

async function attack(base: string, routes: JsonRoute[], h: HostileBody | null, until: number): Promise<{ sent: number; unexpected: number }> {
  let sent = 0;
  let unexpected = 0;
  if (!h) return { sent, unexpected };
  await Promise.all(
    Array.from({ length: ATTACKERS }, async (_, w) => {
      for (let i = w; performance.now() < until; i += ATTACKERS) {
        const r = await sendHostile(base, routes[i % routes.length]!, h, null).catch(() => ({ status: 0 }));
        sent++;
        if (r.status !== h.status) unexpected++;
      }
    }),
  );
  return { sent, unexpected };
}

export async function run(): Promise<Figure[]> {
  const fx = await getFixture();
  let node: RterProcess | undefined;
  try {
    node = await startRter({
      binary: fx.binary,
      env: { ...fx.env, RTER_LOG_LEVEL: "error", RTER_RATE_LIMIT: "1000000/1m", RTER_RATE_LIMIT_ANONYMOUS: "1000000/1m", RTER_RATE_LIMIT_LOGIN: "1000000/1m" },
      args: ["--roles", "api"],
    });
    await node.waitReady(60_000);
    const routes = await jsonRoutes(node.url);
    const auth = { authorization: `Bearer ${fx.token}` };
    const rows: (string | number)[][] = [];
    const figures: Figure[] = [];
    for (const h of [null, ...HOSTILE_BODIES]) {
      const until = performance.now() + PHASE_S * 1000;
      const [health, authed, a] = await Promise.all([
        probe(`${node.url}/healthz`, {}, until),
        probe(`${node.url}/api/v1/items?limit=1`, auth, until),
        attack(node.url, routes, h, until),
      ]);
      const name = h ? h.family : "quiet";
      rows.push([
        name,
        fmt(pct(health.lat, 50)),
        fmt(pct(health.lat, 99)),
        fmt(pct(authed.lat, 50)),
        fmt(pct(authed.lat, 99)),
        health.bad + authed.bad,
        fmt(a.sent / PHASE_S, 0),
        a.unexpected,
      ]);
      figures.push({ bench: "hostile", what: `${name}: /healthz p99`, value: fmt(pct(health.lat, 99)), unit: "ms" });
      figures.push({ bench: "hostile", what: `${name}: GET /items p99`, value: fmt(pct(authed.lat, 99)), unit: "ms" });
    }
    console.log(`${routes.length} JSON routes, ${ATTACKERS} attackers, ${PHASE_S} s per phase (client and server share the cores)`);
    table(
      ["while", "healthz p50 ms", "healthz p99 ms", "GET items p50 ms", "GET items p99 ms", "bystander non-200", "hostile req/s", "hostile unexpected"],
      rows,
    );
    if (node.proc.exitCode !== null) throw new Error(`the node exited during the attack:\n${node.output().slice(-2000)}`);
    return figures;
  } finally {
    await node?.stop("SIGTERM").catch(() => 0);
  }
}

if (import.meta.main) await runAlone(run);
