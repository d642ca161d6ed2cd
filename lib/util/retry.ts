/**
 * Bounded retries with exponential backoff and full jitter, for transient faults only
 * (429, 5xx, connection failures). Permanent errors (401, 403, 404, 409, 422) are thrown at once.
 * An observer hears of every retry (the progress display shows them), an abort signal (the
 * cluster's deadline) stops retrying, and an error that outlived several attempts says how many.
 */

export interface RetryPolicy {
  /** Total attempts, including the first. */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  /** Told before each new attempt, after a transient failure. */
  onRetry?(notice: RetryNotice): void;
  /** Once aborted, no new attempt starts: the last error is thrown. */
  signal?: AbortSignal;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, initialDelayMs: 300, maxDelayMs: 8_000 };

export interface TransientInfo {
  transient: boolean;
  /** Server-requested wait (Retry-After), if any. */
  retryAfterMs?: number;
}

export interface RetryNotice {
  /** What is retried, e.g. "git fetch" (empty when the caller did not say). */
  what: string;
  /** The attempt about to start (2 for the first retry). */
  attempt: number;
  attempts: number;
  /** Why the previous attempt failed. */
  error: unknown;
  delayMs: number;
}

/** "retrying git fetch (2/4): <why the last attempt failed>", for a progress line. */
export function describeRetry(n: RetryNotice): string {
  const why = n.error instanceof Error ? n.error.message : String(n.error);
  return `retrying ${n.what || "request"} (${n.attempt}/${n.attempts}): ${why.split("\n")[0]}`;
}

export interface RetryCall {
  /** Named in the retry notices. */
  what?: string;
  sleep?: (ms: number) => Promise<void>;
}

export async function withRetry<T>(
  policy: RetryPolicy,
  classify: (e: unknown) => TransientInfo,
  fn: (attempt: number) => Promise<T>,
  call: RetryCall = {},
): Promise<T> {
  const sleep = call.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1;; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      const info = classify(e);
      if (!info.transient) throw e;
      if (attempt >= policy.attempts || policy.signal?.aborted) throw gaveUp(e, attempt);
      const cap = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
      const delay = info.retryAfterMs !== undefined
        ? Math.min(info.retryAfterMs, policy.maxDelayMs)
        : Math.random() * cap;
      policy.onRetry?.({
        what: call.what ?? "",
        attempt: attempt + 1,
        attempts: policy.attempts,
        error: e,
        delayMs: delay,
      });
      await sleep(delay);
      if (policy.signal?.aborted) throw gaveUp(e, attempt);
    }
  }
}

/**
 * The error of the last attempt, saying how many were made, so nobody re-runs a command in a
 * tight loop believing it was tried once. The error keeps its class and fields (callers check
 * them); only its message grows.
 */
function gaveUp(e: unknown, attempts: number): unknown {
  if (attempts > 1 && e instanceof Error && !/\(gave up after \d+ attempts\)/.test(e.message)) {
    e.message = `${e.message} (gave up after ${attempts} attempts)`;
  }
  return e;
}
