/**
 * One Gitea API call as the route handlers see it, and the checks Gitea's route groups make
 * (routers/api/v1/api.go): reqToken (401 "token is required"), tokenRequiresScopes (403 naming
 * the scopes), repoAssignment (404 "not found" for what the caller may not see), reqAdmin (403
 * "user should be an owner or a collaborator with admin write of a repository").
 */
import type { BodyResult } from "../forge/http.ts";
import type { Ledger } from "../forge/ledger.ts";
import type { ForgeStore, RepoRecord } from "../forge/model.ts";
import { type FieldType, type FieldValues, readFields, Reply, reply } from "../forge/reply.ts";
import type { KeyGrants } from "../forge/ssh_keys.ts";
import { type AccessMode, accessMode, atLeast } from "./access.ts";
import { apiError, type Urls } from "./json.ts";
import { requiredScopes, type ScopeCategory, scopeRefusal, type TokenRecord } from "./tokens.ts";

export { Reply, reply };

export interface Call {
  method: string;
  url: URL;
  query: URLSearchParams;
  login: string | null;
  token: TokenRecord | null;
  urls: Urls;
  body(): Promise<BodyResult>;
}

export interface Ctx {
  store: ForgeStore;
  keys: KeyGrants;
  ledger: Ledger;
  version: string;
  paging: { size: number; max: number };
  /** material -> Gitea's public key id (key_id), shared by the repositories using the key. */
  keyIds: Map<string, number>;
}

export function fail(call: Call, status: number, message: string): Reply {
  return reply(status, apiError(message, call.urls));
}

export function notFound(call: Call, message = "not found"): Reply {
  return fail(call, 404, message);
}

/** reqToken and tokenRequiresScopes of the route group. */
export function guard(
  call: Call,
  categories: ScopeCategory[],
  opts: { auth: boolean },
): Reply | undefined {
  if (!call.token) return opts.auth ? fail(call, 401, "token is required") : undefined;
  const refusal = scopeRefusal(call.token, requiredScopes(call.method, categories));
  return refusal ? fail(call, 403, refusal) : undefined;
}

export interface RepoAccess {
  repo: RepoRecord;
  mode: AccessMode;
}

/** The repository under /repos/{owner}/{repo}, for a caller who may see it. */
export function repoFor(
  ctx: Ctx,
  call: Call,
  owner: string,
  name: string,
  opts: { auth: boolean; admin?: boolean },
): RepoAccess | Reply {
  const denied = guard(call, ["repository"], { auth: opts.auth });
  if (denied) return denied;
  const repo = ctx.store.repo(owner, name);
  const mode = repo ? accessMode(ctx.store, repo, call.login) : "none";
  if (!repo || mode === "none") return notFound(call);
  if (opts.admin && !atLeast(mode, "admin")) {
    return fail(
      call,
      403,
      "user should be an owner or a collaborator with admin write of a repository",
    );
  }
  return { repo, mode };
}

/**
 * Body binding (routers/api/v1/api.go bind): a field of the wrong type or a required one missing
 * is 422 "[Field]: <rule>".
 */
export function fields<T extends Record<string, FieldType>>(
  call: Call,
  body: Record<string, unknown>,
  spec: T,
  required: (keyof T & string)[] = [],
): FieldValues<T> | Reply {
  const r = readFields(body, spec);
  const label = (f: string) => f.split("_").map((w) => w[0].toUpperCase() + w.slice(1)).join("");
  if (!r.ok) return fail(call, 422, `[${label(r.field)}]: invalid ${r.type}`);
  for (const f of required) {
    const v = r.values[f];
    if (v === undefined || v === "") return fail(call, 422, `[${label(f)}]: Required`);
  }
  return r.values;
}

export function badBody(call: Call): Reply {
  return fail(call, 422, "invalid JSON body");
}
