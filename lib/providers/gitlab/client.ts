/**
 * The shared forge client (lib/providers/http) set up for GitLab's REST API v4: the token as
 * `Authorization: Bearer` (GitLab accepts a personal access token as an OAuth bearer token:
 * doc/api/rest/authentication.md), the run's rate limiter for this host and token (GitLab answers
 * 429 with Retry-After and RateLimit-Reset: doc/security/rate_limits.md), and GitLab's failures
 * in words: its `message` (a string, or a field → errors map) and `error` bodies.
 */
import { createJsonClient, type JsonClient } from "../http/client.ts";
import { type FailureContext, statusWords } from "../http/errors.ts";
import type { SessionAccess } from "../types.ts";

type Obj = Record<string, unknown>;

/** GitLab's error body in one line: "name has already been taken", "403 Forbidden", … */
export function gitlabMessage(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const o = body as Obj;
  const m = o.message ?? o.error;
  if (typeof m === "string") return m;
  if (typeof m === "object" && m !== null) {
    return Object.entries(m as Obj).map(([field, errors]) =>
      `${field} ${Array.isArray(errors) ? errors.join(", ") : String(errors)}`
    ).join("; ");
  }
  return undefined;
}

/** The role a 403 says is missing, from what was asked. */
function neededRole(action: string): string {
  if (action.startsWith("create project")) {
    return "the role that may create projects in the group (Developer or Maintainer, as the group says)";
  }
  return "the Maintainer role on the project";
}

export function describeFailure(ctx: FailureContext): string {
  const { action, status, body, ref } = ctx;
  const said = gitlabMessage(body);
  switch (status) {
    case 401:
      return `${action}: the GitLab token was rejected (401): check git.gitlab.token (default GITLAB_TOKEN): it may be expired or revoked`;
    case 403: {
      const o = (body ?? {}) as Obj;
      if (o.error === "insufficient_scope") {
        return `${action}: the token for ${ref.host} lacks a scope: it needs the "${
          typeof o.scope === "string" ? o.scope.split(" ")[0] : "api"
        }" scope (403 insufficient_scope)`;
      }
      return `${action}: the token for ${ref.host} may not do this: it needs ${
        neededRole(action)
      } (403${said ? `, GitLab says: ${said}` : ""})`;
    }
    case 400:
    case 409:
    case 422:
      return `${action}: GitLab refused it (${status})${said ? `: ${said}` : ""}`;
  }
  return statusWords(ctx, "check git.gitlab.token (default GITLAB_TOKEN)");
}

export interface GitLabClientOptions {
  /** e.g. https://gitlab.com (the API is <apiUrl>/api/v4). */
  apiUrl: string;
  access: SessionAccess;
  onWait?(message: string): void;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_RETRY = { attempts: 4, initialDelayMs: 200, maxDelayMs: 5_000 };

export function gitlabClient(opts: GitLabClientOptions): JsonClient {
  const { access } = opts;
  return createJsonClient({
    service: "GitLab",
    baseUrl: `${opts.apiUrl.replace(/\/+$/, "")}/api/v4`,
    allowInsecureHttp: access.allowInsecureHttp,
    token: access.token,
    authorization: `Bearer ${access.token}`,
    timeoutMs: access.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    retry: { ...DEFAULT_RETRY, ...(access.attempts ? { attempts: access.attempts } : {}) },
    describe: describeFailure,
    ...(opts.onWait ? { onWait: opts.onWait } : {}),
    ...(access.deadline ? { deadline: access.deadline } : {}),
  });
}
