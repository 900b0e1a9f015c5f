// bench refused: a bystander's latency while attackers send requests the server must refuse
// (a used invite, a wrong password, a forged token, a forbidden route, a reused Idempotency-Key,
// a delete under legal hold) to one API node with only --db-pool-max 4 connections. Prints p50/p99
// of GET /healthz and of an authenticated GET /api/v1/items, quiet and under each family, the
// refusals per second and any answer that was not the family's own 4xx (a 503 would mean the pool
// starved). test/integration/pool-starvation.test.ts asserts the behaviour; this measures it.
import { startRter, type RterProcess } from "../test/support/rter-process.ts";
import { fmt, getFixture, pct, runAlone, table, type Figure } from "./lib.ts";

const PHASE_S = Number(process.env.BENCH_REFUSED_SECONDS ?? 2);
const ATTACKERS = 8;

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

interface Family {
  name: string;
  expect: number[];
  send(i: number): Promise<Response>;
}

export async function run(): Promise<Figure[]> {
  const fx = await getFixture();
  let node: RterProcess | undefined;
  try {
    // Limits out of the way: the families must reach the code that refuses them, not the limiter.
    const env = {
      ...fx.env,
      RTER_LOG_LEVEL: "error",
      RTER_RATE_LIMIT: "1000000/1m",
      RTER_RATE_LIMIT_ANONYMOUS: "1000000/1m",
      RTER_RATE_LIMIT_LOGIN: "1000000/1m",
    };
    node = await startRter({ binary: fx.binary, env, args: ["--roles", "api", "--db-pool-max", "4", "--trusted-proxies", "127.0.0.1"] });
    await node.waitReady(60_000);
    const base = node.url;
    const admin = { authorization: `Bearer ${fx.token}` };
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

    // The cast: a reporter, a used invite, a held stream, a spent Idempotency-Key.
    const reporterEmail = `refused-${crypto.randomUUID().slice(0, 8)}@bench.example`;
    const reporterPassword = `bench-${crypto.randomUUID()}`;
    if ((await post("/api/v1/admin/users", { email: reporterEmail, role: "reporter", password: reporterPassword }, admin)).status !== 201)
      throw new Error("could not add the reporter");
    const reporter = {
      authorization: `Bearer ${((await (await post("/api/v1/auth/login", { email: reporterEmail, password: reporterPassword })).json()) as { token: string }).token}`,
    };
    const invite = ((await (await post("/api/v1/invites", {}, admin)).json()) as { token: string }).token;
    if ((await post("/api/v1/invites/accept", { token: invite })).status !== 200) throw new Error("could not use the invite");
    const held = ((await (await post("/api/v1/streams", { title: "held" }, admin)).json()) as { id: string }).id;
    if ((await post(`/api/v1/streams/${held}/hold`, { reason: "bench" }, admin)).status !== 201) throw new Error("could not hold the stream");
    if ((await post("/api/v1/streams", { title: "first" }, { ...reporter, "idempotency-key": "bench-key" })).status !== 201)
      throw new Error("could not spend the key");

    let addr = 0;
    const from = () => ({ "x-forwarded-for": `10.99.${(++addr >> 8) & 255}.${addr & 255}` });
    const families: Family[] = [
      { name: "used invite", expect: [410], send: () => post("/api/v1/invites/accept", { token: invite }, from()) },
      {
        name: "wrong password",
        expect: [401],
        send: (i) => post("/api/v1/auth/login", { email: `nobody${i}@bench.example`, password: "not the password" }, from()),
      },
      {
        name: "forged token",
        expect: [401],
        send: () => fetch(`${base}/api/v1/items`, { headers: { authorization: `Bearer rter_${"x".repeat(43)}`, ...from() } }),
      },
      { name: "forbidden route", expect: [403], send: () => fetch(`${base}/api/v1/admin/users`, { headers: reporter }) },
      {
        name: "Idempotency-Key reused",
        expect: [422],
        send: (i) => post("/api/v1/streams", { title: `other ${i}` }, { ...reporter, "idempotency-key": "bench-key" }),
      },
      { name: "delete under hold", expect: [409], send: () => fetch(`${base}/api/v1/streams/${held}`, { method: "DELETE", headers: admin }) },
    ];

    const rows: (string | number)[][] = [];
    const figures: Figure[] = [];
    for (const f of [null, ...families]) {
      const until = performance.now() + PHASE_S * 1000;
      let sent = 0;
      let unexpected = 0;
      const attack = f
        ? Promise.all(
            Array.from({ length: ATTACKERS }, async (_, w) => {
              for (let i = w; performance.now() < until; i += ATTACKERS) {
                const status = await f.send(i).then(
                  async (r) => (await r.arrayBuffer(), r.status),
                  () => 0,
                );
                sent++;
                if (!f.expect.includes(status)) unexpected++;
              }
            }),
          )
        : Promise.resolve();
      const [health, authed] = await Promise.all([probe(`${base}/healthz`, {}, until), probe(`${base}/api/v1/items?limit=1`, admin, until), attack]);
      const name = f ? f.name : "quiet";
      rows.push([
        name,
        fmt(pct(health.lat, 50)),
        fmt(pct(health.lat, 99)),
        fmt(pct(authed.lat, 50)),
        fmt(pct(authed.lat, 99)),
        health.bad + authed.bad,
        fmt(sent / PHASE_S, 0),
        unexpected,
      ]);
      figures.push({ bench: "refused", what: `${name}: GET /items p99`, value: fmt(pct(authed.lat, 99)), unit: "ms" });
      figures.push({ bench: "refused", what: `${name}: answers not its 4xx`, value: String(unexpected), unit: "" });
    }
    console.log(`--db-pool-max 4, ${ATTACKERS} attackers, ${PHASE_S} s per phase (client and server share the cores)`);
    table(["while", "healthz p50 ms", "healthz p99 ms", "GET items p50 ms", "GET items p99 ms", "bystander non-200", "refused req/s", "not its 4xx"], rows);
    return figures;
  } finally {
    await node?.stop("SIGTERM").catch(() => 0);
  }
}

if (import.meta.main) await runAlone(run);
