/**
 * One GitHub API call as the route handlers see it, and the checks they share: authentication,
 * the token's scopes or permissions, the caller's role on a repository, and GitHub's answers when
 * one of them fails (docs "Troubleshooting the REST API": 401 "Requires authentication" / "Bad
 * credentials", 404 for what the caller may not see, 403 "Must have admin rights to Repository.",
 * 403 "Resource not accessible by personal access token" for fine-grained tokens).
 */
import type { BodyResult } from "../forge/http.ts";
import type { KeyGrants } from "../forge/ssh_keys.ts";
import type { ForgeStore, RepoRecord } from "../forge/model.ts";
import type { Ledger } from "../forge/ledger.ts";
import { linkHeader, type Page, withQuery } from "../forge/paging.ts";
import { type FieldType, type FieldValues, readFields, Reply, reply } from "../forge/reply.ts";
import { atLeast, repoRole, type Role } from "./access.ts";
import { basicError, type Urls } from "./json.ts";
import { tokenAllows, type TokenNeed, type TokenRecord } from "./tokens.ts";

export { Reply, reply };

export interface Call {
  method: string;
  /** Path segments after the API base (and after /repositories/{id} was resolved). */
  segs: string[];
  url: URL;
  query: URLSearchParams;
  accept: string;
  login: string | null;
  token: TokenRecord | null;
  urls: Urls;
  /** The documentation_url of the endpoint, for its error answers. */
  docs: string;
  /** What the endpoint accepts of a token, for x-accepted-* headers (set by `guard`). */
  accepted: TokenNeed;
  body(): Promise<BodyResult>;
}

export interface Ctx {
  store: ForgeStore;
  keys: KeyGrants;
  ledger: Ledger;
  defaultBranch: string;
  paging: { size: number; max: number };
}

export function fail(call: Call, status: number, message: string): Reply {
  return reply(status, basicError(message, call.docs, status));
}

export function notFound(call: Call): Reply {
  return fail(call, 404, "Not Found");
}

export function badJson(call: Call): Reply {
  return fail(call, 400, "Problems parsing JSON");
}

/**
 * Authentication and the token's scopes or permissions for what the endpoint needs; a reply when
 * the call must stop. Classic tokens lacking a scope get 404, as GitHub hides what they may not
 * touch; fine-grained tokens get 403 naming the permission in x-accepted-github-permissions.
 */
export function guard(call: Call, need: TokenNeed, opts: { auth: boolean }): Reply | undefined {
  call.accepted = need;
  if (!call.token) return opts.auth ? fail(call, 401, "Requires authentication") : undefined;
  if (tokenAllows(call.token, need)) return undefined;
  return call.token.kind === "classic"
    ? notFound(call)
    : fail(call, 403, "Resource not accessible by personal access token");
}

/** The scopes a classic token needs to touch `repo`: repo, or public_repo for public writes. */
export function repoScopes(repo: { private: boolean }, write: boolean): string[] | undefined {
  if (repo.private) return ["repo"];
  return write ? ["repo", "public_repo"] : undefined;
}

export interface RepoAccess {
  repo: RepoRecord;
  role: Role | undefined;
}

/**
 * The repository and the caller's role on it, with the token checked for `permission`;
 * 404 when it does not exist or the caller may not see it, 403 when `wanted` is more than the
 * caller's role.
 */
export function repoFor(
  ctx: Ctx,
  call: Call,
  owner: string,
  name: string,
  opts: { permission: TokenNeed["permission"]; write: boolean; wanted?: Role },
): RepoAccess | Reply {
  const repo = ctx.store.repo(owner, name);
  const need: TokenNeed = {
    scopes: repo ? repoScopes(repo, opts.write) : ["repo"],
    permission: opts.permission,
  };
  const denied = guard(call, need, { auth: opts.write || opts.wanted !== undefined });
  if (denied) return denied;
  const role = repo ? repoRole(repo, call.login) : undefined;
  if (!repo || role === undefined) return notFound(call);
  if (opts.wanted && !atLeast(role, opts.wanted)) {
    return opts.wanted === "admin"
      ? fail(call, 403, "Must have admin rights to Repository.")
      : fail(call, 403, `Must have ${opts.wanted} rights to Repository.`);
  }
  return { repo, role };
}

/**
 * 422 "Invalid request" for a body field of the wrong type, as GitHub's schema validation words
 * it ("Invalid request.\n\nFor 'properties/private', \"yes\" is not a boolean.").
 */
export function wrongType(call: Call, field: string, value: unknown, type: string): Reply {
  return fail(
    call,
    422,
    `Invalid request.\n\nFor 'properties/${field}', ${JSON.stringify(value)} is not a ${type}.`,
  );
}

export function missingField(call: Call, field: string): Reply {
  return fail(call, 422, `Invalid request.\n\n"${field}" wasn't supplied.`);
}

/** Reads optional typed fields of a JSON object body; a Reply for the first one of a wrong type. */
export function fields<T extends Record<string, FieldType>>(
  call: Call,
  body: Record<string, unknown>,
  spec: T,
): FieldValues<T> | Reply {
  const r = readFields(body, spec);
  return r.ok ? r.values : wrongType(call, r.field, r.value, r.type);
}

/**
 * The Link header of one page, GitHub's order (docs "Using pagination in the REST API"): prev,
 * next, last, first; targets at `path` under the API base, the request's other parameters kept.
 */
export function githubLink(call: Call, page: Page<unknown>, path: string): Record<string, string> {
  const target = new URL(`${call.urls.api}/${path}${call.url.search}`);
  const link = linkHeader(
    page,
    (n) => withQuery(target, { per_page: String(page.size), page: String(n) }),
    ["prev", "next", "last", "first"],
    ", ",
  );
  return link ? { link } : {};
}
