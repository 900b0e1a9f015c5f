import { expect, test } from "bun:test";
import { RequestMetrics } from "./metrics.ts";

test("percentiles, error counts and Prometheus text", () => {
  const m = new RequestMetrics();
  for (let i = 1; i <= 100; i++) m.record("GET", i === 100 ? 503 : i % 10 === 0 ? 404 : 200, i / 1000);
  expect(m.total).toBe(100);
  expect(m.errors5xx).toBe(1);
  expect(m.errors4xx).toBe(9);
  const p = m.percentiles();
  expect(p.p50).toBe(51);
  expect(p.p99).toBe(100);
  const text = m.prometheus().join("\n");
  expect(text).toContain('rter_http_requests_total{method="GET",status="200"} 90');
  expect(text).toContain('rter_http_request_duration_seconds_bucket{le="0.05"} 50');
  expect(text).toContain('rter_http_request_duration_seconds_bucket{le="+Inf"} 100');
});

test("the reservoir stays bounded", () => {
  const m = new RequestMetrics();
  for (let i = 0; i < 10_000; i++) m.record("GET", 200, 0.001);
  expect(m.percentiles().window).toBe(4096);
});

test("a watched gauge is read at each scrape and gone once unregistered", () => {
  const m = new RequestMetrics();
  let n = 2;
  const unwatch = m.watchGauge("rter_things_open", "Things open.", () => n);
  expect(m.prometheus()).toContain("rter_things_open 2");
  n = 0;
  expect(m.prometheus()).toContain("rter_things_open 0");
  expect(m.prometheus()).toContain("# TYPE rter_things_open gauge");
  unwatch();
  expect(m.prometheus().join("\n")).not.toContain("rter_things_open");
});
