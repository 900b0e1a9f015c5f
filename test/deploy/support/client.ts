/**
 * A client of the load balancer as a phone or an integration would be: a request that fails
 * (connection error, 502, 503, 504) is retried with backoff until its retry budget is spent.
 * It records the longest time any request spent failing before it succeeded (the outage a user
 * saw) and the requests that failed for longer than the budget.
 */
export class LbClient {
  maxOutageMs = 0;
  requests = 0;
  retries = 0;
  /** Requests that still failed when the budget ran out, with their last error. */
  readonly failures: string[] = [];

  constructor(
    readonly base: string,
    readonly token: string,
    readonly budgetMs = 10_000,
  ) {}

  async req(method: string, path: string, init: { body?: BodyInit | object; headers?: Record<string, string>; retry?: boolean } = {}): Promise<Response> {
    this.requests++;
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, ...init.headers };
    let body = init.body as BodyInit | undefined;
    if (init.body !== undefined && !(init.body instanceof Uint8Array) && typeof init.body === "object") {
      body = JSON.stringify(init.body);
      headers["content-type"] ??= "application/json";
    }
    const t0 = performance.now();
    let firstFailure: number | null = null;
    let delay = 100;
    let last = "";
    for (;;) {
      const attemptStart = performance.now();
      try {
        const res = await fetch(this.base + path, {
          method,
          headers,
          body,
          signal: AbortSignal.timeout(20_000),
          tls: { rejectUnauthorized: false },
        } as RequestInit);
        if (![502, 503, 504].includes(res.status)) {
          if (firstFailure !== null) this.maxOutageMs = Math.max(this.maxOutageMs, attemptStart - firstFailure);
          return res;
        }
        last = `${res.status} ${(await res.text()).slice(0, 200)}`;
      } catch (e) {
        last = (e as Error).message;
      }
      firstFailure ??= attemptStart;
      if (init.retry === false || performance.now() - t0 + delay > this.budgetMs) {
        this.failures.push(`${method} ${path}: ${last}`);
        throw new Error(`${method} ${path} failed for ${Math.round(performance.now() - t0)} ms: ${last}`);
      }
      this.retries++;
      await Bun.sleep(delay);
      delay = Math.min(delay * 2, 1_000);
    }
  }

  async json<T = any>(method: string, path: string, init: Parameters<LbClient["req"]>[2] = {}): Promise<{ status: number; body: T }> {
    const res = await this.req(method, path, init);
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  }
}
