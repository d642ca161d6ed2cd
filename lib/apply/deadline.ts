/**
 * A deadline for one cluster's (or one repository's) work in one stage (`--cluster-timeout`).
 * When it passes, the work is reported failed at once, naming the phase it was in and what it
 * said it was doing under the signal (lib/util/deadline_stop.ts: a provider's request, say); the
 * work itself sees its signal aborted, so no new step or retry starts, and a request in flight
 * that takes the signal (kube, git, provider APIs) stops; one that does not ends by its own
 * per-request timeout.
 */
import { formatGoDuration } from "../config/duration.ts";
import type { RetryPolicy } from "../util/retry.ts";
import { DEFAULT_RETRY, describeRetry } from "../util/retry.ts";
import { doingNow } from "../util/deadline_stop.ts";

export class DeadlineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DeadlineError";
  }
}

/** What the work is doing now: named when the deadline passes. */
export interface PhaseTracker {
  phase: string;
}

export async function withDeadline<T>(
  ms: number | undefined,
  tracker: PhaseTracker,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const ctl = new AbortController();
  if (!ms) return await fn(ctl.signal);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const stopped = doingNow(ctl.signal).map((words) => `: ${words}`).join("");
      ctl.abort();
      reject(
        new DeadlineError(
          `deadline of ${
            formatGoDuration(ms)
          } reached while ${tracker.phase} (--cluster-timeout)${stopped}`,
        ),
      );
    }, ms);
  });
  const work = fn(ctl.signal);
  // After the deadline the work's own end (usually the request timeout) is nobody's business.
  work.catch(() => {});
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The run's retry policy for one cluster or repository: retries are told to `notify` (the
 * progress line shows them), and none starts once `deadline()` is aborted.
 */
export function observedRetry(
  base: RetryPolicy | undefined,
  notify: (message: string) => void,
  deadline: () => AbortSignal | undefined,
): RetryPolicy {
  const { attempts, initialDelayMs, maxDelayMs } = base ?? DEFAULT_RETRY;
  return {
    attempts,
    initialDelayMs,
    maxDelayMs,
    onRetry: (n) => notify(describeRetry(n)),
    get signal() {
      return deadline();
    },
  };
}
