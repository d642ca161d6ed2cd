/**
 * GitHub team access to repositories (docs "REST API endpoints for teams"; operation ids from the
 * OpenAPI description):
 *   GET    /repos/{owner}/{repo}/teams                               repos/list-teams  200, paged
 *   GET    /orgs/{org}/teams/{team_slug}                             teams/get-by-name 200 | 404
 *   GET    /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}        teams/check-permissions-for-repo-in-org
 *          200 with the repository (Accept: application/vnd.github.v3.repository+json) | 204 | 404
 *   PUT    /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}        teams/add-or-update-repo-permissions-in-org
 *          {permission: pull | triage | push | maintain | admin}, default the team's own; 204 | 403 | 422
 *   DELETE /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}        teams/remove-repo-in-org 204
 * PUT is idempotent: granting what is granted answers 204 again.
 */
import { isObject } from "../forge/http.ts";
import type { OrgRecord, TeamRecord } from "../forge/model.ts";
import { pageOf, pageRequest } from "../forge/paging.ts";
import { isOrgMember, isRole, type Role } from "./access.ts";
import {
  badJson,
  type Call,
  type Ctx,
  fail,
  fields,
  githubLink,
  guard,
  notFound,
  Reply,
  reply,
  repoFor,
} from "./call.ts";
import { team, teamFull, teamRepository, validationError } from "./json.ts";

/**
 * application/vnd.github.v3.repository+json (the description's words, what go-github sends); the
 * media type's parameter is what matters, octokit's `mediaType: {format: "repository"}` omits
 * the +json.
 */
const REPOSITORY_MEDIA_TYPE = /application\/vnd\.github(?:\.v3)?\.repository(?:\+json)?\b/;

export function listRepoTeams(ctx: Ctx, call: Call, owner: string, name: string): Reply {
  const found = repoFor(ctx, call, owner, name, {
    permission: ["administration", "read"],
    write: false,
    wanted: "pull",
  });
  if (found instanceof Reply) return found;
  const { repo } = found;
  const org = repo.owner.kind === "Organization" ? repo.owner : undefined;
  const granted = org
    ? org.teams.filter((t) => repo.teams.has(t.id)).map((t) =>
      team(t, org, call.urls, repo.teams.get(t.id) as Role)
    )
    : [];
  const page = pageOf(granted, pageRequest(call.query, "per_page", ctx.paging));
  return reply(200, page.items, githubLink(call, page, `repositories/${repo.id}/teams`));
}

/** The organization and its team, for a caller who belongs to the organization; else a 404. */
function orgTeam(ctx: Ctx, call: Call, org: string, slug: string): [OrgRecord, TeamRecord] | Reply {
  const o = ctx.store.org(org);
  if (!o || !isOrgMember(o, call.login)) return notFound(call);
  const t = ctx.store.team(o, slug);
  return t ? [o, t] : notFound(call);
}

export function getTeam(ctx: Ctx, call: Call, org: string, slug: string): Reply {
  const denied = guard(call, { scopes: ["read:org"], permission: ["members", "read"] }, {
    auth: true,
  });
  if (denied) return denied;
  const found = orgTeam(ctx, call, org, slug);
  if (found instanceof Reply) return found;
  const [o, t] = found;
  const repos = [...ctx.store.reposOf(o)].filter((r) => r.teams.has(t.id)).length;
  return reply(200, teamFull(t, o, call.urls, repos));
}

export function checkTeamRepo(
  ctx: Ctx,
  call: Call,
  p: { org: string; slug: string; owner: string; name: string },
): Reply {
  const denied = guard(call, { scopes: ["read:org"], permission: ["metadata", "read"] }, {
    auth: true,
  });
  if (denied) return denied;
  const found = orgTeam(ctx, call, p.org, p.slug);
  if (found instanceof Reply) return found;
  const [, t] = found;
  const access = repoFor(ctx, call, p.owner, p.name, {
    permission: ["metadata", "read"],
    write: false,
  });
  if (access instanceof Reply) return access;
  const granted = access.repo.teams.get(t.id);
  if (!isRole(granted)) return notFound(call);
  if (!REPOSITORY_MEDIA_TYPE.test(call.accept)) return reply(204);
  return reply(200, teamRepository(access.repo, granted, call.urls));
}

export async function putTeamRepo(
  ctx: Ctx,
  call: Call,
  p: { org: string; slug: string; owner: string; name: string },
): Promise<Reply> {
  const access = repoFor(ctx, call, p.owner, p.name, {
    permission: ["administration", "write"],
    write: true,
    wanted: "admin",
  });
  if (access instanceof Reply) return access;
  const found = orgTeam(ctx, call, p.org, p.slug);
  if (found instanceof Reply) return found;
  const [o, t] = found;
  const parsed = await call.body();
  if (!parsed.ok || (parsed.value !== undefined && !isObject(parsed.value))) return badJson(call);
  const f = fields(call, parsed.value ?? {}, { permission: "string" });
  if (f instanceof Reply) return f;
  const permission = f.permission ?? t.permission;
  if (!isRole(permission)) {
    return reply(
      422,
      validationError("Validation Failed", call.docs, [
        { resource: "TeamRepository", code: "invalid", field: "permission", value: permission },
      ]),
    );
  }
  if (access.repo.owner !== o) {
    // Documented as a 422; the wording is the sandbox's.
    return fail(
      call,
      422,
      `Repository ${access.repo.owner.login}/${access.repo.name} is not owned by ${o.login}.`,
    );
  }
  access.repo.teams.set(t.id, permission);
  return reply(204);
}

export function deleteTeamRepo(
  ctx: Ctx,
  call: Call,
  p: { org: string; slug: string; owner: string; name: string },
): Reply {
  const access = repoFor(ctx, call, p.owner, p.name, {
    permission: ["administration", "write"],
    write: true,
    wanted: "admin",
  });
  if (access instanceof Reply) return access;
  const found = orgTeam(ctx, call, p.org, p.slug);
  if (found instanceof Reply) return found;
  access.repo.teams.delete(found[1].id);
  return reply(204);
}
