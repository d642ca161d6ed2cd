/**
 * What work is doing under a deadline's signal (`--cluster-timeout`), in its own words ("check
 * the GitLab token: waiting for the answer of GitLab at host was stopped"): registered while a
 * request or a wait is under way, read by lib/apply/deadline.ts the moment the deadline passes,
 * so its error says what was stopped. Kept per signal in a WeakMap: nothing outlives the signal.
 */
const doing = new WeakMap<AbortSignal, Set<{ words: string }>>();

/** Registers `words` under `signal` until the returned function is called. */
export function doingUnder(signal: AbortSignal | undefined, words: string): () => void {
  if (!signal) return () => {};
  let now = doing.get(signal);
  if (!now) {
    now = new Set();
    doing.set(signal, now);
  }
  // One entry per piece of work: two under way with the same words end apart.
  const entry = { words };
  now.add(entry);
  return () => now.delete(entry);
}

/** What is under way under `signal` now. */
export function doingNow(signal: AbortSignal): string[] {
  return [...new Set([...(doing.get(signal) ?? [])].map((e) => e.words))];
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
