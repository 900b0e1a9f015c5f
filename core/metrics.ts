/**
 * In-process request measurements: Prometheus counters and a histogram for /metrics, and a
 * bounded reservoir of recent latencies for the percentiles on /api/v1/status. Per process; a
 * Prometheus server sums across nodes.
 */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const RESERVOIR = 4096;

export class RequestMetrics {
  readonly startedAt = Date.now();
  private counts = new Map<string, number>();
  private bucketCounts = new Array<number>(BUCKETS.length).fill(0);
  private sum = 0;
  private n = 0;
  private recent: number[] = [];
  private recentPos = 0;
  errors5xx = 0;
  errors4xx = 0;
  /** 429 answers: callers over a rate limit or a locked account. */
  rateLimited = 0;
  /** Values owned elsewhere in the process (an open-connection count), read at each scrape. */
  private watched = new Map<string, { help: string; read: () => number }>();

  /**
   * Exposes a gauge whose value another module holds, read when /metrics is scraped rather than
   * copied on every change; the module unregisters it (the returned function) when it stops.
   */
  watchGauge(name: string, help: string, read: () => number): () => void {
    const entry = { help, read };
    this.watched.set(name, entry);
    return () => {
      if (this.watched.get(name) === entry) this.watched.delete(name);
    };
  }

  record(method: string, status: number, seconds: number): void {
    const key = `${method}|${status}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.n++;
    this.sum += seconds;
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) this.bucketCounts[i]!++;
    if (status >= 500) this.errors5xx++;
    else if (status >= 400) this.errors4xx++;
    if (status === 429) this.rateLimited++;
    if (this.recent.length < RESERVOIR) this.recent.push(seconds);
    else this.recent[this.recentPos++ % RESERVOIR] = seconds;
  }

  get total(): number {
    return this.n;
  }

  /** Latency percentiles in milliseconds over the most recent requests. */
  percentiles(): { p50: number | null; p95: number | null; p99: number | null; window: number } {
    const s = [...this.recent].sort((a, b) => a - b);
    const at = (q: number) => (s.length ? round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 1000) : null);
    return { p50: at(0.5), p95: at(0.95), p99: at(0.99), window: s.length };
  }

  prometheus(): string[] {
    const out = ["# HELP rter_http_requests_total HTTP requests served, by method and status.", "# TYPE rter_http_requests_total counter"];
    for (const [k, v] of this.counts) {
      const [method, status] = k.split("|");
      out.push(`rter_http_requests_total{method="${method}",status="${status}"} ${v}`);
    }
    out.push("# HELP rter_http_request_duration_seconds Time to produce a response.", "# TYPE rter_http_request_duration_seconds histogram");
    BUCKETS.forEach((b, i) => out.push(`rter_http_request_duration_seconds_bucket{le="${b}"} ${this.bucketCounts[i]}`));
    out.push(`rter_http_request_duration_seconds_bucket{le="+Inf"} ${this.n}`);
    out.push(`rter_http_request_duration_seconds_sum ${this.sum}`, `rter_http_request_duration_seconds_count ${this.n}`);
    for (const [name, g] of this.watched) out.push(...gauge(name, g.help, g.read()));
    return out;
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

export function gauge(name: string, help: string, value: number | null, labels = ""): string[] {
  if (value === null || !Number.isFinite(value)) return [];
  return [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name}${labels} ${value}`];
}
