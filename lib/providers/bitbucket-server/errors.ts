/**
 * Bitbucket's words for failed answers. Bitbucket's REST API answers errors as
 * {"errors":[{"context":…,"message":…,"exceptionName":…}]} (RestErrors / RestErrorMessage in the
 * Bitbucket Data Center OpenAPI document); the server's own messages are kept, the token never
 * is. What every forge says alike (no answer, redirects, shapes) is in ../http/errors.ts.
 */
import { ProviderError } from "../types.ts";
import {
  type FailureContext,
  failureError,
  type ServiceRef,
  statusWords,
  unexpectedShape as sharedUnexpectedShape,
} from "../http/errors.ts";
import { projectName, type ResolvedTarget } from "./target.ts";
import { serverText } from "../../util/redact.ts";

export interface ServerError {
  message: string;
  exceptionName: string | null;
}

const MAX_SERVER_TEXT = 300;

export const SERVICE = "Bitbucket";

export function serviceRef(t: ResolvedTarget): ServiceRef {
  return { service: SERVICE, host: t.host, token: t.token, timeoutMs: t.timeoutMs };
}

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

/** The words for a failed answer of Bitbucket (the client's `describe`). */
export function describeFailure(target: ResolvedTarget, ctx: FailureContext): string {
  const errors = serverErrors(ctx.body);
  const user = ctx.headers.get("x-ausername");
  const words = isPermissionDenied(ctx.status, errors, user)
    ? permissionMessage(target, ctx.action, ctx.status, user)
    : ctx.status === 404
    ? `${ctx.action}: ${ctx.subject} was not found on ${target.host} (404)`
    : statusWords(ctx, "check BITBUCKET_TOKEN");
  return words + saying(errors);
}

/** A 401 the caller accepted and found to be a rejected token. */
export function failureFromResponse(
  target: ResolvedTarget,
  ctx: Omit<FailureContext, "ref">,
): ProviderError {
  const full = { ...ctx, ref: serviceRef(target) };
  return failureError(full, describeFailure(target, full));
}

/** The server answered 2xx with something that is not the documented shape. */
export function unexpectedShape(
  target: ResolvedTarget,
  action: string,
  detail: string,
): ProviderError {
  return sharedUnexpectedShape(serviceRef(target), action, detail);
}
