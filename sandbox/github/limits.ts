/**
 * GitHub's rate-limit answers (docs "Rate limits for the REST API", "Troubleshooting the REST
 * API"): every answer carries x-ratelimit-limit, -remaining, -used, -reset (UTC epoch seconds) and
 * -resource; past the primary limit the answer is 403 (or 429) with x-ratelimit-remaining: 0; a
 * secondary limit is 403 or 429 with a message saying so and, when given, retry-after.
 */
import type { PrimaryState, SecondaryLimit } from "../forge/ledger.ts";
import { basicError } from "./json.ts";

const RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api";

export function rateHeaders(s: PrimaryState): Record<string, string> {
  return {
    "x-ratelimit-limit": String(s.limit),
    "x-ratelimit-remaining": String(s.remaining),
    "x-ratelimit-reset": String(s.reset),
    "x-ratelimit-used": String(s.used),
    "x-ratelimit-resource": "core",
  };
}

export interface LimitAnswer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

export function secondaryLimited(
  limit: SecondaryLimit,
  state: PrimaryState,
  requestId: string,
): LimitAnswer {
  const headers = rateHeaders(state);
  if (limit.retryAfterSeconds !== undefined) {
    headers["retry-after"] = String(limit.retryAfterSeconds);
  }
  return {
    status: limit.status,
    body: basicError(
      "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. " +
        `If you reach out to GitHub Support for help, please include the request ID ${requestId}.`,
      `${RATE_DOCS}#about-secondary-rate-limits`,
      limit.status,
    ),
    headers,
  };
}

/** `who`: "user ID <id>", or the address of an unauthenticated caller. */
export function primaryLimited(
  status: 403 | 429,
  who: string,
  state: PrimaryState,
  requestId: string,
): LimitAnswer {
  return {
    status,
    body: basicError(
      `API rate limit exceeded for ${who}. If you reach out to GitHub Support for help, ` +
        `please include the request ID ${requestId} and timestamp ${new Date().toISOString()}.`,
      RATE_DOCS,
      status,
    ),
    headers: rateHeaders(state),
  };
}
