/**
 * What a forge sandbox remembers about the API calls it answered, for tests to assert on: every
 * request (method, path, status, which token by its name — never the token itself), the number of
 * reading and mutating calls per token, and the rate limits a test imposes:
 *   - a primary limit: a budget per user that runs out (GitHub's x-ratelimit-remaining: 0 with
 *     x-ratelimit-reset), imposed at once with `exhaust` or reached by spending it;
 *   - secondary limits: the next requests (of one token, or any) refused with 403/429 and a
 *     retry-after, as GitHub does for bursts and as a proxy in front of Gitea would.
 */

export interface ApiRequestRecord {
  method: string;
  /** Path and query as received. */
  path: string;
  status: number;
  /** The name the test gave the token (see the sandbox options), null when none was sent. */
  token: string | null;
  /** Login the token belongs to, null when unauthenticated. */
  user: string | null;
}

export interface RequestCounts {
  reading: number;
  mutating: number;
}

export interface SecondaryLimit {
  /** 403 (GitHub's usual) or 429. */
  status: 403 | 429;
  /** Seconds in the retry-after header; none when absent. */
  retryAfterSeconds?: number;
  /** How many requests it refuses (default 1). */
  times?: number;
  /** Only requests made with this token name; default any. */
  token?: string;
}

export interface PrimaryState {
  limit: number;
  remaining: number;
  used: number;
  /** UTC epoch seconds. */
  reset: number;
}

export function isMutating(method: string): boolean {
  return method !== "GET" && method !== "HEAD" && method !== "OPTIONS";
}

export class Ledger {
  readonly requests: ApiRequestRecord[] = [];
  readonly #budgets = new Map<string, PrimaryState>();
  readonly #secondary: (SecondaryLimit & { left: number })[] = [];

  constructor(
    private readonly limit: (user: string | null) => number,
    private windowSeconds = 3600,
  ) {}

  record(r: ApiRequestRecord): ApiRequestRecord {
    this.requests.push(r);
    return r;
  }

  counts(token: string): RequestCounts {
    const mine = this.requests.filter((r) => r.token === token);
    const mutating = mine.filter((r) => isMutating(r.method)).length;
    return { reading: mine.length - mutating, mutating };
  }

  mutatingRequests(): { method: string; path: string; status: number; token: string | null }[] {
    return this.requests.filter((r) => isMutating(r.method))
      .map(({ method, path, status, token }) => ({ method, path, status, token }));
  }

  /** The user's primary budget now (a new window once the reset time has passed). */
  primary(user: string | null): PrimaryState {
    const key = user?.toLowerCase() ?? "";
    const nowSec = Math.floor(Date.now() / 1000);
    let s = this.#budgets.get(key);
    if (!s || s.reset <= nowSec) {
      const limit = this.limit(user);
      s = { limit, remaining: limit, used: 0, reset: nowSec + this.windowSeconds };
      this.#budgets.set(key, s);
    }
    return s;
  }

  /** Spends one request; false when nothing was left (the request is refused). */
  spend(user: string | null): boolean {
    const s = this.primary(user);
    if (s.remaining <= 0) return false;
    s.remaining--;
    s.used++;
    return true;
  }

  /** Runs the user's budget out until `resetInSeconds` from now. */
  exhaust(user: string, resetInSeconds: number): void {
    const s = this.primary(user);
    s.used += s.remaining;
    s.remaining = 0;
    s.reset = Math.floor(Date.now() / 1000) + Math.max(1, Math.ceil(resetInSeconds));
  }

  addSecondary(limit: SecondaryLimit): void {
    const left = limit.times ?? 1;
    if (left > 0) this.#secondary.push({ ...limit, left });
  }

  /** The secondary limit that refuses this request, if any (consumed). */
  takeSecondary(token: string | null): SecondaryLimit | undefined {
    const i = this.#secondary.findIndex((l) => l.token === undefined || l.token === token);
    if (i < 0) return undefined;
    const hit = this.#secondary[i];
    if (--hit.left <= 0) this.#secondary.splice(i, 1);
    return hit;
  }
}
