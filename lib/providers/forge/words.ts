/** Words shared by the forges' error messages. */
import type { FailureContext } from "../http/errors.ts";
import { serverText } from "../../util/redact.ts";
import type { ForgeSettings } from "./types.ts";

const MAX_SERVER_TEXT = 300;

/** What a request was trying to do, as "the token … cannot <capability>" says it. */
export function capability(action: string, s: ForgeSettings): string {
  if (action.startsWith("create repository")) return `create repositories in ${s.owner}`;
  if (action.startsWith("add deploy key")) return "add deploy keys";
  if (action.startsWith("list deploy keys")) return "list deploy keys";
  if (action.startsWith("delete deploy key")) return "delete deploy keys";
  if (action.startsWith("grant team")) return "grant teams access";
  if (action.startsWith("list teams")) return "list the repository's teams";
  if (action.startsWith("make repository")) return "change the repository's visibility";
  return "do this";
}

/** The server's own message (and its validation errors), made safe and short. */
export function serverSays(service: string, body: unknown): string {
  if (typeof body !== "object" || body === null) return "";
  const { message, errors } = body as { message?: unknown; errors?: unknown };
  const parts: string[] = [];
  if (typeof message === "string" && message !== "") parts.push(message);
  if (Array.isArray(errors)) {
    for (const e of errors) {
      const m = typeof e === "string"
        ? e
        : typeof e === "object" && e !== null
        ? (e as { message?: unknown }).message
        : undefined;
      if (typeof m === "string" && m !== "") parts.push(m);
    }
  }
  if (parts.length === 0) return "";
  return ` (${service} says: ${serverText(parts.join(": "), MAX_SERVER_TEXT)})`;
}

/** "the token for forge.example.com/acme". */
export function tokenOwner(s: ForgeSettings): string {
  return `the token for ${s.host}/${s.owner}`;
}

/**
 * The words every forge shares for a failed answer; `lacks` names what the token lacks when the
 * answer says (a permission or scope), in the API's terms.
 */
export function forgeWords(
  ctx: FailureContext,
  s: ForgeSettings,
  lacks: string | undefined,
): string {
  const { action, subject, status, ref } = ctx;
  const says = serverSays(ref.service, ctx.body);
  switch (status) {
    case 401:
      return `${action}: the ${ref.service} token was rejected (401): check ${s.tokenField}${says}`;
    case 403:
      return lacks
        ? `${action}: ${tokenOwner(s)} cannot ${capability(action, s)}: it needs ${lacks} (403)`
        : `${action}: ${tokenOwner(s)} cannot ${capability(action, s)} (403)${says}`;
    case 404:
      return `${action}: ${subject} was not found on ${s.host} (404), or the token cannot see it`;
    case 409:
      return `${action}: ${subject} already exists (409)${says}`;
    case 422:
      return `${action}: ${ref.service} refused the request as invalid (422)${says}`;
    case 429:
      return `${action}: ${ref.service} is rate limiting this token (429): wait a little, or lower the fleet's concurrency`;
  }
  if (status >= 500) {
    return `${action}: ${ref.service} on ${ref.host} failed (${status}); this is usually temporary`;
  }
  return `${action}: unexpected answer from ${ref.service} (${status})${says}`;
}
