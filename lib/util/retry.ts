/**
 * Bounded retries with exponential backoff and full jitter, for transient faults only
 * (429, 5xx, connection failures). Permanent errors (401, 403, 404, 409, 422) are thrown at once.
 */

export interface RetryPolicy {
  /** Total attempts, including the first. */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, initialDelayMs: 300, maxDelayMs: 8_000 };

export interface TransientInfo {
  transient: boolean;
  /** Server-requested wait (Retry-After), if any. */
  retryAfterMs?: number;
}

export async function withRetry<T>(
  policy: RetryPolicy,
  classify: (e: unknown) => TransientInfo,
  fn: (attempt: number) => Promise<T>,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      const info = classify(e);
      if (!info.transient || attempt >= policy.attempts) throw e;
      const cap = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
      const delay = info.retryAfterMs !== undefined
        ? Math.min(info.retryAfterMs, policy.maxDelayMs)
        : Math.random() * cap;
      await sleep(delay);
    }
  }
}
