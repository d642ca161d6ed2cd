/**
 * Gitea team access to a repository (routers/api/v1/repo/teams.go; swagger operation ids):
 *   GET    /api/v1/repos/{owner}/{repo}/teams          repoListTeams  200 (all, unpaged) | 405
 *   GET    /api/v1/repos/{owner}/{repo}/teams/{team}   repoCheckTeam  200 | 404 | 405
 *   PUT    /api/v1/repos/{owner}/{repo}/teams/{team}   repoAddTeam    204 | 403 | 404 | 405 | 422
 *   DELETE /api/v1/repos/{owner}/{repo}/teams/{team}   repoDeleteTeam 204 | 403 | 404 | 405 | 422
 * Gitea gives a team its own mode on every repository it holds (no per-repository permission,
 * go-gitea/gitea#14717), and PUT is not idempotent: adding a team that holds the repository is
 * 422 "team '<name>' is already added to repo" (the Owners team holds every repository).
 * Changing team access takes an organization owner, or a repository admin when the organization
 * allows it (repo_admin_change_team_access), else 403 "Must have permission to manage team
 * repository access". A repository of a user is 405 "repo is not owned by an organization".
 */
import type { OrgRecord, TeamRecord } from "../forge/model.ts";
import { atLeast } from "./access.ts";
import { type Call, type Ctx, fail, Reply, reply, type RepoAccess, repoFor } from "./call.ts";
import { team } from "./json.ts";

function orgRepo(
  ctx: Ctx,
  call: Call,
  owner: string,
  name: string,
  admin: boolean,
): (RepoAccess & { org: OrgRecord }) | Reply {
  const found = repoFor(ctx, call, owner, name, { auth: true, admin });
  if (found instanceof Reply) return found;
  if (found.repo.owner.kind !== "Organization") {
    return fail(call, 405, "repo is not owned by an organization");
  }
  return { ...found, org: found.repo.owner };
}

function teamByName(call: Call, org: OrgRecord, name: string): TeamRecord | Reply {
  const t = org.teams.find((x) => x.name.toLowerCase() === name.toLowerCase());
  return t ?? fail(call, 404, `team does not exist [org_id ${org.id}, team_id 0, name: ${name}]`);
}

export function listTeams(ctx: Ctx, call: Call, owner: string, name: string): Reply {
  const found = orgRepo(ctx, call, owner, name, false);
  if (found instanceof Reply) return found;
  const teams = found.org.teams.filter((t) => found.repo.teams.has(t.id));
  return reply(200, teams.map((t) => team(t, undefined, call.urls)));
}

export function checkTeam(
  ctx: Ctx,
  call: Call,
  owner: string,
  name: string,
  teamName: string,
): Reply {
  const found = orgRepo(ctx, call, owner, name, false);
  if (found instanceof Reply) return found;
  const t = teamByName(call, found.org, teamName);
  if (t instanceof Reply) return t;
  return found.repo.teams.has(t.id)
    ? reply(200, team(t, found.org, call.urls))
    : fail(call, 404, "not found");
}

export function changeTeam(
  ctx: Ctx,
  call: Call,
  p: { owner: string; name: string; team: string; add: boolean },
): Reply {
  const found = orgRepo(ctx, call, p.owner, p.name, true);
  if (found instanceof Reply) return found;
  const { org, repo, mode } = found;
  const me = call.login!.toLowerCase();
  const mayChange = Boolean(ctx.store.user(me)?.siteAdmin) || org.owners.has(me) ||
    (org.repoAdminChangeTeamAccess && atLeast(mode, "admin"));
  if (!mayChange) return fail(call, 403, "Must have permission to manage team repository access");
  const t = teamByName(call, org, p.team);
  if (t instanceof Reply) return t;
  const has = repo.teams.has(t.id);
  if (p.add) {
    if (has) return fail(call, 422, `team '${t.name}' is already added to repo`);
    repo.teams.set(t.id, t.permission);
  } else {
    if (!has) return fail(call, 422, `team '${t.name}' was not added to repo`);
    repo.teams.delete(t.id);
  }
  return reply(204);
}
