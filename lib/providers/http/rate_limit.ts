/**
 * One rate limiter per API host and token, shared by every repository session of a fleet run:
 * once a forge says the token is out of requests (403/429 with x-ratelimit-remaining: 0 and
 * x-ratelimit-reset, or with retry-after; 429 with RateLimit-Reset — each provider cites its
 * API's rate-limit page), no request with
 * that token to that host starts until the reset, whichever session asks. Each waiting caller is
 * told how long (the progress line shows it).
 */
import { sleepUnless } from "../../util/deadline_stop.ts";
import { createHash } from "node:crypto";
import { parseRetryAfter } from "./errors.ts";

/** How long a refused or exhausted caller waits, and why (for the progress line). */
export interface RateWait {
  /** Milliseconds from now. */
  ms: number;
  /** The header that said so: "retry-after", "x-ratelimit-reset", … */
  source: string;
}

/**
 * A 403 that names a rate limit only in its message ("secondary rate limit") is documented to
 * need at least a minute.
 */
export const SECONDARY_LIMIT_WAIT_MS = 60_000;

/**
 * A reset header's value: seconds since the epoch (x-ratelimit-reset, and RateLimit-Reset as
 * some forges send it) or, for small values, seconds from now (the IETF RateLimit-Reset draft).
 */
function resetMs(value: string | null, now: number): number | undefined {
  if (value === null || !/^\s*\d+\s*$/.test(value)) return undefined;
  const n = Number(value);
  const ms = n > 1_000_000_000 ? n * 1000 - now : n * 1000;
  return Math.max(0, ms);
}

/**
 * The wait a rate-limit refusal asks for; undefined when the answer is no rate-limit refusal.
 * `bodyText`: the server's message (some limits are named only there).
 */
export function refusalWait(
  status: number,
  headers: Headers,
  bodyText: string,
  now = Date.now(),
): RateWait | undefined {
  const exhausted = headers.get("x-ratelimit-remaining")?.trim() === "0" ||
    headers.get("ratelimit-remaining")?.trim() === "0";
  const retryAfter = parseRetryAfter(headers.get("retry-after"), now);
  const saysLimit = /rate limit/i.test(bodyText);
  if (status !== 429 && !(status === 403 && (exhausted || retryAfter !== undefined || saysLimit))) {
    return undefined;
  }
  if (retryAfter !== undefined) return { ms: retryAfter, source: "retry-after" };
  for (const name of ["x-ratelimit-reset", "ratelimit-reset"]) {
    const ms = exhausted || status === 429 ? resetMs(headers.get(name), now) : undefined;
    if (ms !== undefined) return { ms, source: name };
  }
  // A 429 without any header: the caller's own backoff decides (a transient fault).
  if (status === 429) return undefined;
  return { ms: SECONDARY_LIMIT_WAIT_MS, source: "the secondary rate limit" };
}

/** After a successful answer that used the last request: wait for the reset before the next. */
export function exhaustedWait(headers: Headers, now = Date.now()): RateWait | undefined {
  for (
    const [remaining, reset] of [
      ["x-ratelimit-remaining", "x-ratelimit-reset"],
      ["ratelimit-remaining", "ratelimit-reset"],
    ]
  ) {
    if (headers.get(remaining)?.trim() !== "0") continue;
    const ms = resetMs(headers.get(reset), now);
    if (ms !== undefined) return { ms, source: reset };
  }
  return undefined;
}

export interface RateLimiter {
  /**
   * Resolves once requests may be sent; `onWait` hears of a wait before it starts. A wait longer
   * than `maxWaitMs` is not started (also when the block grows while waiting): it resolves at once
   * and the caller sees `remainingMs()` above its bound. An aborted `signal` (the caller's
   * deadline) ends the wait at once: the caller sees the signal aborted.
   */
  ready(
    onWait?: (wait: RateWait) => void,
    maxWaitMs?: number,
    signal?: AbortSignal,
  ): Promise<void>;
  /** No request starts before `wait.ms` from now (a later block wins over an earlier one). */
  block(wait: RateWait): void;
  /** Milliseconds until requests may be sent (0 when they may now). */
  remainingMs(): number;
}

export interface LimiterClock {
  now(): number;
  /** Sleeps `ms`, or less when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

const REAL_CLOCK: LimiterClock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleepUnless(ms, signal),
};

export function createRateLimiter(clock: LimiterClock = REAL_CLOCK): RateLimiter {
  let until = 0;
  let source = "";
  return {
    async ready(onWait, maxWaitMs = Infinity, signal) {
      // A block may be extended while waiting (another answer said later): wait again.
      for (let now = clock.now(); now < until && !signal?.aborted; now = clock.now()) {
        const wait = { ms: until - now, source };
        if (!(wait.ms <= maxWaitMs)) return;
        onWait?.(wait);
        // setTimeout takes at most 2^31-1 ms (a longer delay fires at once: a busy loop).
        await clock.sleep(Math.min(wait.ms, MAX_TIMER_MS), signal);
      }
    },
    block(wait) {
      const at = clock.now() + wait.ms;
      if (at > until) {
        until = at;
        source = wait.source;
      }
    },
    remainingMs: () => Math.max(0, until - clock.now()),
  };
}

/**
 * The run's limiters by API origin and token. Keyed by a digest of the token, so the map holds
 * no secret; a process runs one fleet, so one registry is the run's.
 */
const limiters = new Map<string, RateLimiter>();

/** The limiter shared by every client of this origin and token. */
export function sharedLimiter(origin: string, token: string): RateLimiter {
  const key = `${origin} ${createHash("sha256").update(token).digest("hex")}`;
  let limiter = limiters.get(key);
  if (!limiter) {
    limiter = createRateLimiter();
    limiters.set(key, limiter);
  }
  return limiter;
}

/** "waiting 42 s for Forge's rate limit on forge.example.com (x-ratelimit-reset)". */
export function describeWait(service: string, host: string, wait: RateWait): string {
  const seconds = Math.max(1, Math.ceil(wait.ms / 1000));
  return `waiting ${seconds} s for ${service}'s rate limit on ${host} (${wait.source})`;
}
