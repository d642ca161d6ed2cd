/**
 * The GitLab REST API v4 routes the sandbox answers, with what each needs of the caller:
 * authentication (401 {"message":"401 Unauthorized"} without a valid token; a few reads of public
 * things work anonymously, as on GitLab) and a token scope (403 {"error":"insufficient_scope",…}
 * as Rack::OAuth2 answers Gitlab::Auth::InsufficientScopeError: lib/api/api_guard.rb). Reads
 * take api or read_api, writes api only; GET /user also read_user (doc/user/profile/
 * personal_access_tokens.md "Personal access token scopes").
 * Handlers and the endpoints they implement: identity.ts, members.ts, projects.ts, deploy.ts.
 */
import type { Call, Reply, RouteContext } from "./context.ts";
import { unauthorized } from "./context.ts";
import {
  addDeployKey,
  createDeployToken,
  listDeployKeys,
  listDeployTokens,
  removeDeployKey,
  removeDeployToken,
  showDeployKey,
  showDeployToken,
} from "./deploy.ts";
import { currentUser, showGroup, showNamespace, tokenSelf } from "./identity.ts";
import { groupMember, projectMember } from "./members.ts";
import {
  createProject,
  getProject,
  shareProject,
  unshareProject,
  updateProject,
} from "./projects.ts";
import type { TokenScope } from "./state.ts";

type Handler = (ctx: RouteContext, call: Call) => Promise<Reply> | Reply;

interface Route {
  method: string;
  /** Segments after /api/v4; ":name" captures one (URL-decoded) segment. */
  pattern: string[];
  handler: Handler;
  /** Scopes that may call it; default: GET api/read_api, others api. */
  scopes?: TokenScope[];
  /** Answers callers without a token (it decides visibility itself). */
  anonymous?: boolean;
}

const ANY_SCOPE: TokenScope[] = [
  "api",
  "read_api",
  "read_user",
  "read_repository",
  "write_repository",
];

const route = (
  method: string,
  path: string,
  handler: Handler,
  extra: Partial<Route> = {},
): Route => ({ method, pattern: path.split("/"), handler, ...extra });

const ROUTES: Route[] = [
  route("GET", "user", currentUser, { scopes: ["api", "read_api", "read_user"] }),
  route("GET", "personal_access_tokens/self", tokenSelf, { scopes: ANY_SCOPE }),
  route("GET", "groups/:id", showGroup, { anonymous: true }),
  route("GET", "groups/:id/members/all/:user_id", groupMember),
  route("GET", "namespaces/:id", showNamespace),
  route("POST", "projects", createProject),
  route("GET", "projects/:id", getProject, { anonymous: true }),
  route("PUT", "projects/:id", updateProject),
  route("GET", "projects/:id/members/all/:user_id", projectMember),
  route("GET", "projects/:id/deploy_keys", listDeployKeys),
  route("POST", "projects/:id/deploy_keys", addDeployKey),
  route("GET", "projects/:id/deploy_keys/:key_id", showDeployKey),
  route("DELETE", "projects/:id/deploy_keys/:key_id", removeDeployKey),
  route("GET", "projects/:id/deploy_tokens", listDeployTokens),
  route("POST", "projects/:id/deploy_tokens", createDeployToken),
  route("GET", "projects/:id/deploy_tokens/:token_id", showDeployToken),
  route("DELETE", "projects/:id/deploy_tokens/:token_id", removeDeployToken),
  route("POST", "projects/:id/share", shareProject),
  route("DELETE", "projects/:id/share/:group_id", unshareProject),
];

function match(pattern: string[], segments: string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const path: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i].startsWith(":")) {
      if (segments[i] === "") return undefined;
      path[pattern[i].slice(1)] = segments[i];
    } else if (pattern[i] !== segments[i]) {
      return undefined;
    }
  }
  return path;
}

/** The route for a request, or the answer when none fits (404, 405 as Grape gives them). */
export function findRoute(
  method: string,
  segments: string[],
): { route: Route; path: Record<string, string> } | Reply {
  const fitting = ROUTES.map((r) => ({ route: r, path: match(r.pattern, segments) }))
    .filter((m) => m.path !== undefined);
  if (fitting.length === 0) return { status: 404, body: { error: "404 Not Found" } };
  const m = fitting.find((f) => f.route.method === (method === "HEAD" ? "GET" : method));
  if (!m) {
    const allow = [...new Set(fitting.map((f) => f.route.method))].join(", ");
    return { status: 405, body: { error: "405 Not Allowed" }, headers: { allow } };
  }
  return { route: m.route, path: m.path! };
}

/** Authentication and scope, then the handler. */
export function dispatch(ctx: RouteContext, r: Route, call: Call): Promise<Reply> | Reply {
  if (!call.token) return r.anonymous ? r.handler(ctx, call) : unauthorized();
  const allowed = r.scopes ?? (r.method === "GET" ? ["api", "read_api"] : ["api"]);
  if (!call.token.scopes.some((s) => allowed.includes(s))) {
    return {
      status: 403,
      body: {
        error: "insufficient_scope",
        error_description:
          "The request requires higher privileges than provided by the access token.",
        scope: allowed.join(" "),
      },
    };
  }
  return r.handler(ctx, call);
}

export type { Route };
