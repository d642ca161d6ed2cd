/**
 * Turns Bitbucket's error answers into ProviderErrors a user can act on. Bitbucket's REST
 * API answers errors as {"errors":[{"context":…,"message":…,"exceptionName":…}]}
 * (RestErrors / RestErrorMessage in the Bitbucket Data Center OpenAPI document); the
 * server's own messages are kept, the token never is.
 */
import { ProviderError } from "../types.ts";
import { projectName, type ResolvedTarget } from "./target.ts";
import { serverText } from "../../util/redact.ts";

export interface ServerError {
  message: string;
  exceptionName: string | null;
}

export interface FailureContext {
  target: ResolvedTarget;
  /** What the request was for, e.g. "create repository FLEET/apps". */
  action: string;
  /** What a 404 or 409 refers to, e.g. `repository FLEET/apps`. */
  subject: string;
  status: number;
  body: unknown;
  /** X-AUSERNAME of the response: the user the token belongs to, when Bitbucket knew it. */
  user: string | null;
  retryAfterMs?: number;
  /** Location header of a redirect. */
  location?: string | null;
  /** The URL asked for (named with a redirect). */
  url?: string;
}

const MAX_SERVER_TEXT = 300;

export function serverErrors(body: unknown): ServerError[] {
  if (typeof body !== "object" || body === null) return [];
  const errors = (body as { errors?: unknown }).errors;
  if (!Array.isArray(errors)) return [];
  return errors.flatMap((e): ServerError[] => {
    if (typeof e !== "object" || e === null) return [];
    const { message, exceptionName } = e as { message?: unknown; exceptionName?: unknown };
    if (typeof message !== "string" || message === "") return [];
    return [{ message, exceptionName: typeof exceptionName === "string" ? exceptionName : null }];
  });
}

/** Replaces the token wherever it appears: a server may echo what it was sent. */
export function scrub(text: string, token: string): string {
  return token.length > 0 ? text.replaceAll(token, "***") : text;
}

function saying(errors: ServerError[]): string {
  if (errors.length === 0) return "";
  // Redacted before it is cut: a secret cut in half would no longer be recognised.
  return ` (Bitbucket says: ${
    serverText(errors.map((e) => e.message).join("; "), MAX_SERVER_TEXT)
  })`;
}

/**
 * Older and current Bitbucket versions answer "authenticated, but not allowed" with 401 and an
 * AuthorisationException (the REST docs list 401 as "insufficient permissions"); a token that
 * is not accepted at all gets 401 with no user behind the response.
 */
function isPermissionDenied(status: number, errors: ServerError[], user: string | null): boolean {
  if (status === 403) return true;
  return status === 401 && user !== null &&
    errors.some((e) => (e.exceptionName ?? "").endsWith("AuthorisationException"));
}

export function permissionMessage(
  target: ResolvedTarget,
  action: string,
  status: number,
  user: string | null,
): string {
  const who = user === null ? "the token" : `the token for user ${user}`;
  return `${action}: ${who} may not administer ${projectName(target)} (${status}): ` +
    "it needs project admin / repository admin rights to create repositories and add access keys";
}

function describe(ctx: FailureContext, errors: ServerError[]): string {
  const { action, subject, status, target } = ctx;
  if (isPermissionDenied(status, errors, ctx.user)) {
    return permissionMessage(target, action, status, ctx.user);
  }
  if (status === 401) {
    return `${action}: the Bitbucket token was rejected (401): check BITBUCKET_TOKEN`;
  }
  if (status >= 300 && status < 400) {
    const asked = ctx.url ? ` ${ctx.url}` : "";
    let to = "";
    if (ctx.location) {
      try {
        to = ` to ${new URL(ctx.location, ctx.url).href}`;
      } catch {
        to = ` to ${ctx.location}`;
      }
    }
    // Never followed: the token (and a request's body) would go along to wherever it points.
    return `${action}: Bitbucket answered${asked} with a redirect (${status})${to}: not followed (the token would go along); set the Bitbucket URL to the server's actual address`;
  }
  if (status === 404) return `${action}: ${subject} was not found on ${target.host} (404)`;
  if (status === 409) return `${action}: ${subject} already exists (409)`;
  if (status === 400) return `${action}: Bitbucket refused the request as invalid (400)`;
  if (status === 429) {
    return `${action}: Bitbucket is rate limiting this token (429): wait a little, or lower the fleet's concurrency`;
  }
  if (status >= 500) {
    return `${action}: Bitbucket on ${target.host} failed (${status}); this is usually temporary`;
  }
  return `${action}: unexpected answer from Bitbucket (${status})`;
}

export function failureFromResponse(ctx: FailureContext): ProviderError {
  const errors = serverErrors(ctx.body);
  const message = scrub(describe(ctx, errors) + saying(errors), ctx.target.token);
  return new ProviderError(message, {
    status: ctx.status,
    transient: ctx.status === 429 || ctx.status >= 500,
    retryAfterMs: ctx.retryAfterMs,
  });
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

/** No answer at all: refused connection, DNS, TLS, timeout. */
export function failureFromNetwork(
  target: ResolvedTarget,
  action: string,
  err: unknown,
): ProviderError {
  const name = err instanceof Error ? err.name : "";
  const detail = describeCause(err);
  let message: string;
  if (name === "TimeoutError") {
    message = `${action}: Bitbucket on ${target.host} did not answer within ${target.timeoutMs} ms`;
  } else if (/certificate|tls|ssl/i.test(detail)) {
    message =
      `${action}: TLS with ${target.host} failed (${detail}): if it uses a private CA, configure its CA certificate`;
  } else {
    message = `${action}: could not reach Bitbucket at ${target.host}: ${detail}`;
  }
  return new ProviderError(scrub(message, target.token), { status: 0, transient: true });
}

/** The server answered 2xx with something that is not the documented shape. */
export function unexpectedShape(
  target: ResolvedTarget,
  action: string,
  detail: string,
): ProviderError {
  return new ProviderError(
    scrub(`${action}: unexpected answer from Bitbucket: ${detail}`, target.token),
    {
      status: 0,
      transient: false,
    },
  );
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
