/**
 * What every forge API client says when a call fails, in words a user can act on: no answer
 * (refused, DNS, TLS, timeout), a redirect it will not follow, a body that is not the documented
 * shape, and the common statuses. The token never appears in a message, in any form a server
 * may echo it (as is, URL-encoded, base64, JSON-escaped).
 */
import { ProviderError } from "../types.ts";

/** Where and to whom a client talks, as messages name it. */
export interface ServiceRef {
  /** The forge's name. */
  service: string;
  /** host[:port] of the API. */
  host: string;
  token: string;
  /** Per-request timeout, named when it expires. */
  timeoutMs: number;
}

/** Replaces the token wherever it appears: a server may echo what it was sent. */
export function scrub(text: string, token: string): string {
  if (token.length === 0) return text;
  const bytes = new TextEncoder().encode(token);
  const b64 = btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
  const forms = new Set([
    token,
    encodeURIComponent(token),
    JSON.stringify(token).slice(1, -1),
    b64,
    b64.replace(/=+$/, ""),
  ]);
  let out = text;
  for (const form of [...forms].sort((a, b) => b.length - a.length)) {
    if (form.length > 0) out = out.replaceAll(form, "***");
  }
  return out;
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * fetch reports "fetch failed" and keeps the reason (refused, DNS, certificate) in `cause`;
 * the innermost message is the one a user can act on.
 */
function describeCause(err: unknown): string {
  let current: unknown = err;
  let detail = String(err);
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    detail = current.message;
    current = current.cause;
  }
  return detail;
}

/** No answer at all: refused connection, DNS, TLS, timeout. Transient. */
export function failureFromNetwork(ref: ServiceRef, action: string, err: unknown): ProviderError {
  const name = err instanceof Error ? err.name : "";
  const detail = describeCause(err);
  let message: string;
  if (name === "TimeoutError") {
    message = `${action}: ${ref.service} on ${ref.host} did not answer within ${ref.timeoutMs} ms`;
  } else if (/certificate|tls|ssl/i.test(detail)) {
    message =
      `${action}: TLS with ${ref.host} failed (${detail}): if it uses a private CA, configure its CA certificate`;
  } else {
    message = `${action}: could not reach ${ref.service} at ${ref.host}: ${detail}`;
  }
  return new ProviderError(scrub(message, ref.token), { status: 0, transient: true });
}

/**
 * A redirect that is not followed: to another origin (the token would go along) or from
 * https:// to http:// (it would travel in clear text).
 */
export function redirectRefused(
  ref: ServiceRef,
  action: string,
  status: number,
  asked: string,
  location: string | null,
): ProviderError {
  let to = "";
  if (location) {
    try {
      to = ` to ${new URL(location, asked).href}`;
    } catch {
      to = ` to ${location}`;
    }
  }
  return new ProviderError(
    scrub(
      `${action}: ${ref.service} answered ${asked} with a redirect (${status})${to}: not followed (the token would go along); set the ${ref.service} URL to the server's actual address`,
      ref.token,
    ),
    { status, transient: false },
  );
}

/** The server answered 2xx with something that is not the documented shape. */
export function unexpectedShape(ref: ServiceRef, action: string, detail: string): ProviderError {
  return new ProviderError(
    scrub(`${action}: unexpected answer from ${ref.service}: ${detail}`, ref.token),
    { status: 0, transient: false },
  );
}

/** What a failed answer is about, for the words of its message. */
export interface FailureContext {
  ref: ServiceRef;
  /** What the request was for, e.g. "create repository acme/fleet". */
  action: string;
  /** What a 404 or 409 refers to, e.g. "repository acme/fleet". */
  subject: string;
  status: number;
  body: unknown;
  headers: Headers;
}

/**
 * Words for the statuses every forge answers alike; a provider adds its own hints (which
 * permission is missing, which variable holds the token) around them.
 */
export function statusWords(ctx: FailureContext, tokenHint: string): string {
  const { action, subject, status, ref } = ctx;
  switch (status) {
    case 401:
      return `${action}: the ${ref.service} token was rejected (401): ${tokenHint}`;
    case 403:
      return `${action}: the token may not do this on ${ref.host} (403)`;
    case 404:
      return `${action}: ${subject} was not found on ${ref.host} (404), or the token may not see it`;
    case 409:
      return `${action}: ${subject} already exists (409)`;
    case 400:
      return `${action}: ${ref.service} refused the request as invalid (400)`;
    case 422:
      return `${action}: ${ref.service} refused the request as invalid (422)`;
    case 429:
      return `${action}: ${ref.service} is rate limiting this token (429): wait a little, or lower the fleet's concurrency`;
  }
  if (status >= 500) {
    return `${action}: ${ref.service} on ${ref.host} failed (${status}); this is usually temporary`;
  }
  return `${action}: unexpected answer from ${ref.service} (${status})`;
}

/** A failed answer as a ProviderError: transient for 429 and 5xx, never holding the token. */
export function failureError(
  ctx: FailureContext,
  message: string,
  retryAfterMs?: number,
): ProviderError {
  return new ProviderError(scrub(message, ctx.ref.token), {
    status: ctx.status,
    transient: ctx.status === 429 || ctx.status >= 500,
    retryAfterMs,
  });
}
