/**
 * Work that stopped because its deadline's signal aborted (`--cluster-timeout`) can say what it
 * was doing in its own words ("look up project fleet/apps: the GitLab request to host was
 * stopped"); lib/apply/deadline.ts adds them to the deadline's message. A marked error is never
 * transient: nothing retries past the deadline.
 */
const STOPPED = Symbol("stoppedAtDeadline");

/** Marks `e` as the words of work stopped by its deadline. */
export function stoppedAtDeadline<E extends Error>(e: E): E {
  Object.defineProperty(e, STOPPED, { value: true });
  return e;
}

/** The words of work stopped by its deadline, or undefined for any other error. */
export function deadlineStopWords(e: unknown): string | undefined {
  return e instanceof Error && (e as unknown as Record<symbol, unknown>)[STOPPED] === true
    ? e.message
    : undefined;
}

/** Sleeps `ms`, or less when `signal` aborts first. */
export function sleepUnless(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return new Promise((resolve) => setTimeout(resolve, ms));
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
