import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { until, userToken } from "../support/admin.ts";
import { startCluster, type ProcessCluster } from "../support/cluster-fixture.ts";
import { makeChunks } from "../support/media.ts";
import { openSse } from "../support/sse.ts";
import { ROOT, type RterProcess } from "../support/rter-process.ts";

// deploy/prometheus and deploy/grafana name only metrics that exist: every rter_* name in an
// alert rule or a dashboard query is in the /metrics output of a real node (all roles, after a
// stream was ingested and a fixity run finished, so every family has a value); the others come
// from the exporters prometheus.yml scrapes. promtool checks the files and runs the rules' tests.

const PROM = join(ROOT, "deploy/prometheus");
const DASHBOARD = join(ROOT, "deploy/grafana/rter-dashboard.json");
const PROMTOOL = Bun.which("promtool");

/** Metrics of the exporters prometheus.yml scrapes besides rter (node, blackbox) and Prometheus's own `up`. */
const EXTERNAL: Record<string, string> = {
  up: "prometheus",
  node_filesystem_avail_bytes: "node",
  node_filesystem_size_bytes: "node",
  node_systemd_unit_state: "node",
  node_systemd_timer_last_trigger_seconds: "node",
  probe_ssl_earliest_cert_expiry: "blackbox",
  probe_success: "blackbox",
};
const PROMQL_WORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan"]);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or strings. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, "")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "")
    .replace(/\[[^\]]*\]/g, "");
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (m[2] || PROMQL_WORDS.has(m[1]!.toLowerCase())) continue;
    names.add(m[1]!);
  }
  return [...names];
}

function ruleExprs(): string[] {
  const doc = Bun.YAML.parse(readFileSync(join(PROM, "rter-alerts.yml"), "utf8")) as { groups: { rules: { expr: string }[] }[] };
  return doc.groups.flatMap((g) => g.rules.map((r) => r.expr));
}

function dashboardExprs(): string[] {
  const doc = JSON.parse(readFileSync(DASHBOARD, "utf8")) as { panels: { targets?: { expr: string }[] }[] };
  return doc.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}

/** Family and sample names in Prometheus text format. */
function exposed(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const typed = /^# TYPE (\S+) /.exec(line);
    if (typed) names.add(typed[1]!);
    else if (line && !line.startsWith("#")) names.add(line.split(/[{ ]/)[0]!);
  }
  return names;
}

let cluster: ProcessCluster;
let node: RterProcess;

beforeAll(async () => {
  cluster = await startCluster();
  node = await cluster.ready();
}, 120_000);
afterAll(() => cluster?.stop());

describe("monitoring files", () => {
  test("the metric-name reader finds metrics and only metrics", () => {
    expect(metricNames('sum by (status) (rate(rter_http_requests_total{status=~"5.."}[5m])) / clamp_min(sum(rate(rter_x[5m])), 1e-9) > 0.05').sort()).toEqual([
      "rter_http_requests_total",
      "rter_x",
    ]);
    expect(metricNames('time() - max by (instance, name) (node_systemd_timer_last_trigger_seconds{name=~"rter-pg(a|b)\\\\.timer"}) > 2 * 86400')).toEqual([
      "node_systemd_timer_last_trigger_seconds",
    ]);
    expect(metricNames("histogram_quantile(0.95, sum by (le) (rate(rter_http_request_duration_seconds_bucket[5m])))")).toEqual([
      "rter_http_request_duration_seconds_bucket",
    ]);
  });

  test("every metric an alert rule or a dashboard panel names exists: rter's on a real node's /metrics, the rest from a scraped exporter", async () => {
    const reporter = await userToken(node.url, cluster.env, "reporter@city.example", "reporter");
    const admin = await userToken(node.url, cluster.env, "admin@city.example", "admin");
    // A stream with one segment (ingest lag) and a finished fixity run: every family has a value.
    const created = await fetch(`${node.url}/api/v1/streams`, {
      method: "POST",
      headers: { authorization: `Bearer ${reporter}`, "content-type": "application/json" },
      body: JSON.stringify({ title: "metrics" }),
    });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    const [chunk] = await makeChunks("ts-h264-aac", 1, 1, "160x120");
    const put = await fetch(`${node.url}/api/v1/streams/${id}/chunks/0`, {
      method: "PUT",
      headers: { authorization: `Bearer ${reporter}`, "content-type": "video/mp2t" },
      body: chunk,
    });
    expect(put.status).toBe(201);
    await until("the chunk is segmented", async () => (await cluster.db.query("select 1 from segments where stream_id = $1", [id])).rowCount);
    const fixity = await fetch(`${node.url}/api/v1/admin/fixity`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(fixity.status).toBe(202);
    await until("the fixity run finished", async () => (await cluster.db.query("select 1 from fixity_runs where finished_at is not null")).rowCount, 60_000);

    const text = await until("every family has a value", async () => {
      const t = await (await fetch(`${node.url}/metrics`)).text();
      return /^rter_ingest_lag_p95_seconds /m.test(t) && /^rter_fixity_last_run_timestamp_seconds /m.test(t) && /^rter_queue_workers_alive\{/m.test(t)
        ? t
        : null;
    });
    const have = exposed(text);
    const named = new Map<string, string>();
    for (const e of ruleExprs()) for (const n of metricNames(e)) named.set(n, "rter-alerts.yml");
    for (const e of dashboardExprs()) for (const n of metricNames(e)) named.set(n, named.has(n) ? `${named.get(n)}, dashboard` : "dashboard");
    const rter = [...named.keys()].filter((n) => n.startsWith("rter_")).sort();
    const others = [...named.keys()].filter((n) => !n.startsWith("rter_")).sort();
    console.log(`monitoring: ${rter.length} rter metrics named (all checked against /metrics), ${others.length} from exporters: ${others.join(", ")}`);
    expect(rter.length).toBeGreaterThan(15);
    expect(rter.filter((n) => !have.has(n))).toEqual([]);
    expect(others.filter((n) => !(n in EXTERNAL))).toEqual([]);
    // Each exporter those come from has a scrape job.
    const scrape = Bun.YAML.parse(readFileSync(join(PROM, "prometheus.yml"), "utf8")) as { scrape_configs: { job_name: string }[] };
    const jobs = scrape.scrape_configs.map((j) => j.job_name);
    for (const n of others) if (EXTERNAL[n] !== "prometheus") expect({ n, job: jobs.some((j) => j.startsWith(EXTERNAL[n]!)) }).toEqual({ n, job: true });
    expect(jobs).toContain("rter");
  }, 180_000);

  test("rter_event_streams_open counts the event streams open on the node, up as they open and down as they close", async () => {
    const operator = await userToken(node.url, cluster.env, "console@city.example", "operator");
    let last = -1;
    const open = async () => {
      const t = await (await fetch(`${node.url}/metrics`)).text();
      const m = /^rter_event_streams_open (\d+)$/m.exec(t);
      if (!m) throw new Error(`no rter_event_streams_open in /metrics:\n${t}`);
      last = Number(m[1]);
      return last;
    };
    const reaches = (n: number) =>
      until(
        () => `rter_event_streams_open = ${n} (last seen: ${last})`,
        async () => (await open()) === n,
      );
    expect(await open()).toBe(0);
    const streams = Array.from({ length: 3 }, () => openSse(`${node.url}/api/v1/events`, { authorization: `Bearer ${operator}` }));
    expect(await Promise.all(streams.map((s) => s.status))).toEqual([200, 200, 200]);
    await reaches(3);
    // A client that goes away (the console's tab closed): its stream is counted no longer.
    let t0 = performance.now();
    streams[0]!.close();
    await streams[0]!.ended;
    await reaches(2);
    const oneMs = performance.now() - t0;
    t0 = performance.now();
    for (const s of streams.slice(1)) s.close();
    await Promise.all(streams.map((s) => s.ended));
    await reaches(0);
    console.log(
      `rter_event_streams_open: down to 2 ${oneMs.toFixed(0)} ms after one client left, to 0 ${(performance.now() - t0).toFixed(0)} ms after the rest`,
    );
  }, 60_000);

  test.skipIf(!PROMTOOL)("promtool: the scrape config and the rules are valid, and the rules' unit tests pass", () => {
    for (const args of [
      ["check", "config", "prometheus.yml"],
      ["check", "rules", "rter-alerts.yml"],
      ["test", "rules", "rter-alerts.test.yml"],
    ]) {
      const p = Bun.spawnSync([PROMTOOL!, ...args], { cwd: PROM, stdout: "pipe", stderr: "pipe" });
      expect({ args, code: p.exitCode, out: p.exitCode ? p.stdout.toString() + p.stderr.toString() : "" }).toEqual({ args, code: 0, out: "" });
    }
  });
});
