/**
 * The GitHub REST endpoints the sandbox answers (what fluxcd/go-git-providers' github client calls
 * for `flux bootstrap github`, see github/githubclient.go), each with its documentation_url from
 * the OpenAPI description's externalDocs. Unknown paths and methods are 404 {"message": "Not
 * Found"}, as GitHub answers them.
 */
import type { Call, Ctx, Reply } from "./call.ts";
import { addKey, deleteKey, getKey, listKeys } from "./keys.ts";
import { createRepo, getOrg, getRepo, getUser, rateLimit, updateRepo } from "./repos.ts";
import { checkTeamRepo, deleteTeamRepo, getTeam, listRepoTeams, putTeamRepo } from "./teams.ts";

type Params = Record<string, string>;

export interface RouteDef {
  method: string;
  /** Segments; ":name" captures one. */
  path: string;
  docs: string;
  /** false: does not count against the primary rate limit (GET /rate_limit). */
  spends?: boolean;
  run(ctx: Ctx, call: Call, p: Params): Reply | Promise<Reply>;
}

const D = "https://docs.github.com/rest";
const teamRepo = (p: Params) => ({ org: p.org, slug: p.team_slug, owner: p.owner, name: p.repo });

export const ROUTES: RouteDef[] = [
  {
    method: "GET",
    path: "user",
    docs: `${D}/users/users#get-the-authenticated-user`,
    run: (ctx, call) => getUser(ctx, call),
  },
  {
    method: "GET",
    path: "rate_limit",
    docs: `${D}/rate-limit/rate-limit#get-rate-limit-status-for-the-authenticated-user`,
    spends: false,
    run: (ctx, call) => rateLimit(ctx, call),
  },
  {
    method: "POST",
    path: "user/repos",
    docs: `${D}/repos/repos#create-a-repository-for-the-authenticated-user`,
    run: (ctx, call) => createRepo(ctx, call),
  },
  {
    method: "GET",
    path: "orgs/:org",
    docs: `${D}/orgs/orgs#get-an-organization`,
    run: (ctx, call, p) => getOrg(ctx, call, p.org),
  },
  {
    method: "POST",
    path: "orgs/:org/repos",
    docs: `${D}/repos/repos#create-an-organization-repository`,
    run: (ctx, call, p) => createRepo(ctx, call, p.org),
  },
  {
    method: "GET",
    path: "orgs/:org/teams/:team_slug",
    docs: `${D}/teams/teams#get-a-team-by-name`,
    run: (ctx, call, p) => getTeam(ctx, call, p.org, p.team_slug),
  },
  {
    method: "GET",
    path: "orgs/:org/teams/:team_slug/repos/:owner/:repo",
    docs: `${D}/teams/teams#check-team-permissions-for-a-repository`,
    run: (ctx, call, p) => checkTeamRepo(ctx, call, teamRepo(p)),
  },
  {
    method: "PUT",
    path: "orgs/:org/teams/:team_slug/repos/:owner/:repo",
    docs: `${D}/teams/teams#add-or-update-team-repository-permissions`,
    run: (ctx, call, p) => putTeamRepo(ctx, call, teamRepo(p)),
  },
  {
    method: "DELETE",
    path: "orgs/:org/teams/:team_slug/repos/:owner/:repo",
    docs: `${D}/teams/teams#remove-a-repository-from-a-team`,
    run: (ctx, call, p) => deleteTeamRepo(ctx, call, teamRepo(p)),
  },
  {
    method: "GET",
    path: "repos/:owner/:repo",
    docs: `${D}/repos/repos#get-a-repository`,
    run: (ctx, call, p) => getRepo(ctx, call, p.owner, p.repo),
  },
  {
    method: "PATCH",
    path: "repos/:owner/:repo",
    docs: `${D}/repos/repos#update-a-repository`,
    run: (ctx, call, p) => updateRepo(ctx, call, p.owner, p.repo),
  },
  {
    method: "GET",
    path: "repos/:owner/:repo/keys",
    docs: `${D}/deploy-keys/deploy-keys#list-deploy-keys`,
    run: (ctx, call, p) => listKeys(ctx, call, p.owner, p.repo),
  },
  {
    method: "POST",
    path: "repos/:owner/:repo/keys",
    docs: `${D}/deploy-keys/deploy-keys#create-a-deploy-key`,
    run: (ctx, call, p) => addKey(ctx, call, p.owner, p.repo),
  },
  {
    method: "GET",
    path: "repos/:owner/:repo/keys/:key_id",
    docs: `${D}/deploy-keys/deploy-keys#get-a-deploy-key`,
    run: (ctx, call, p) => getKey(ctx, call, p.owner, p.repo, p.key_id),
  },
  {
    method: "DELETE",
    path: "repos/:owner/:repo/keys/:key_id",
    docs: `${D}/deploy-keys/deploy-keys#delete-a-deploy-key`,
    run: (ctx, call, p) => deleteKey(ctx, call, p.owner, p.repo, p.key_id),
  },
  {
    method: "GET",
    path: "repos/:owner/:repo/teams",
    docs: `${D}/repos/repos#list-repository-teams`,
    run: (ctx, call, p) => listRepoTeams(ctx, call, p.owner, p.repo),
  },
];

/** The route for method + segments, with its captured parameters. */
export function matchRoute(
  method: string,
  segs: string[],
): { route: RouteDef; params: Params } | undefined {
  for (const route of ROUTES) {
    if (route.method !== method) continue;
    const pattern = route.path.split("/");
    if (pattern.length !== segs.length) continue;
    const params: Params = {};
    if (
      pattern.every((p, i) =>
        p.startsWith(":") ? (params[p.slice(1)] = segs[i], true) : p === segs[i]
      )
    ) {
      return { route, params };
    }
  }
  return undefined;
}
