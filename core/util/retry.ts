export interface RetryOptions {
  /** Give up once this much time has passed since the first attempt. */
  deadlineMs?: number;
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Return false for errors that retrying cannot fix. */
  retryable?: (e: unknown) => boolean;
  onRetry?: (e: unknown, attempt: number) => void;
}

/** Exponential backoff with full jitter, so many nodes retrying together do not stampede. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const { deadlineMs = Infinity, attempts = Infinity, baseDelayMs = 200, maxDelayMs = 5_000, retryable = () => true, onRetry } = opts;
  const until = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      const delay = Math.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
      if (attempt >= attempts || !retryable(e) || Date.now() + delay > until) throw e;
      onRetry?.(e, attempt);
      await Bun.sleep(delay);
    }
  }
}
