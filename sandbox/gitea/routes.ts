/**
 * The Gitea API endpoints the sandbox answers under /api/v1: what fluxcd/go-git-providers' gitea
 * client calls for `flux bootstrap gitea` (gitea/client_*.go, through code.gitea.io/sdk), named
 * by their swagger operation ids in the handler files. A path Gitea has no route for is a plain
 * "404 page not found", as its router answers.
 */
import type { Call, Ctx, Reply } from "./call.ts";
import { addKey, deleteKey, getKey, listKeys } from "./keys.ts";
import {
  createRepo,
  editRepo,
  getOrg,
  getRepo,
  getUser,
  getVersion,
  listOrgTeams,
} from "./repos.ts";
import { changeTeam, checkTeam, listTeams } from "./teams.ts";

type Params = Record<string, string>;

interface RouteDef {
  method: string;
  path: string;
  run(ctx: Ctx, call: Call, p: Params): Reply | Promise<Reply>;
}

const ROUTES: RouteDef[] = [
  { method: "GET", path: "version", run: (ctx) => getVersion(ctx) },
  { method: "GET", path: "user", run: (ctx, call) => getUser(ctx, call) },
  { method: "POST", path: "user/repos", run: (ctx, call) => createRepo(ctx, call) },
  { method: "GET", path: "orgs/:org", run: (ctx, call, p) => getOrg(ctx, call, p.org) },
  { method: "GET", path: "orgs/:org/teams", run: (ctx, call, p) => listOrgTeams(ctx, call, p.org) },
  { method: "POST", path: "orgs/:org/repos", run: (ctx, call, p) => createRepo(ctx, call, p.org) },
  {
    method: "GET",
    path: "repos/:owner/:repo",
    run: (ctx, call, p) => getRepo(ctx, call, p.owner, p.repo),
  },
  {
    method: "PATCH",
    path: "repos/:owner/:repo",
    run: (ctx, call, p) => editRepo(ctx, call, p.owner, p.repo),
  },
  {
    method: "GET",
    path: "repos/:owner/:repo/keys",
    run: (ctx, call, p) => listKeys(ctx, call, p.owner, p.repo),
  },
  {
    method: "POST",
    path: "repos/:owner/:repo/keys",
    run: (ctx, call, p) => addKey(ctx, call, p.owner, p.repo),
  },
  {
    method: "GET",
    path: "repos/:owner/:repo/keys/:id",
    run: (ctx, call, p) => getKey(ctx, call, p.owner, p.repo, p.id),
  },
  {
    method: "DELETE",
    path: "repos/:owner/:repo/keys/:id",
    run: (ctx, call, p) => deleteKey(ctx, call, p.owner, p.repo, p.id),
  },
  {
    method: "GET",
    path: "repos/:owner/:repo/teams",
    run: (ctx, call, p) => listTeams(ctx, call, p.owner, p.repo),
  },
  {
    method: "GET",
    path: "repos/:owner/:repo/teams/:team",
    run: (ctx, call, p) => checkTeam(ctx, call, p.owner, p.repo, p.team),
  },
  {
    method: "PUT",
    path: "repos/:owner/:repo/teams/:team",
    run: (ctx, call, p) =>
      changeTeam(ctx, call, { owner: p.owner, name: p.repo, team: p.team, add: true }),
  },
  {
    method: "DELETE",
    path: "repos/:owner/:repo/teams/:team",
    run: (ctx, call, p) =>
      changeTeam(ctx, call, { owner: p.owner, name: p.repo, team: p.team, add: false }),
  },
];

export function matchRoute(
  method: string,
  segs: string[],
): { run: RouteDef["run"]; params: Params } | "method" | undefined {
  let pathMatched = false;
  for (const route of ROUTES) {
    const pattern = route.path.split("/");
    if (pattern.length !== segs.length) continue;
    const params: Params = {};
    const ok = pattern.every((p, i) =>
      p.startsWith(":") ? (params[p.slice(1)] = segs[i], true) : p === segs[i]
    );
    if (!ok) continue;
    if (route.method === method) return { run: route.run, params };
    pathMatched = true;
  }
  return pathMatched ? "method" : undefined;
}
