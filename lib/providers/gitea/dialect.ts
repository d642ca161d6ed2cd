/**
 * Gitea's (and Forgejo's) REST API, /api/v1, as its swagger document describes it
 * (/swagger.v1.json; operation ids as gitea-js 1.23.0 is generated from), the endpoints
 * fluxcd/go-git-providers' gitea client calls (gitea/client_*.go):
 *   GET    /user                               userGetCurrent
 *   GET    /orgs/{org}                         orgGet
 *   GET    /repos/{owner}/{repo}               repoGet (`permissions` for the caller)
 *   POST   /user/repos                         createCurrentUserRepo {name, private, default_branch}
 *   POST   /orgs/{org}/repos                   createOrgRepo
 *   PATCH  /repos/{owner}/{repo}               repoEdit {private}
 *   GET    /repos/{owner}/{repo}/keys          repoListKeys (page, limit; X-Total-Count, no Link)
 *   POST   /repos/{owner}/{repo}/keys          repoCreateKey {title, key, read_only}
 *   DELETE /repos/{owner}/{repo}/keys/{id}     repoDeleteKey
 *   GET    /repos/{owner}/{repo}/teams         repoListTeams
 *   PUT    /repos/{owner}/{repo}/teams/{team}  repoAddTeam (the team's own permission applies;
 *                                              go-git-providers ignores --team's level too)
 * Where it differs from the other forges: `Authorization: token <t>`; pages by number with
 * X-Total-Count (MAX_RESPONSE_ITEMS 50 by default); a token's missing scope is a 403 "token does
 * not have at least one of required scope(s), required=[…]" (routers/api/v1/api.go).
 */
import type { Permission } from "../types.ts";
import type { FailureContext } from "../http/errors.ts";
import { jsonReader } from "../http/json.ts";
import { collectNumberedPages } from "../http/paging.ts";
import { TEAM_WORDS } from "../forge/settings.ts";
import type { ForgeDialect, ForgeSettings } from "../forge/types.ts";
import { forgeWords } from "../forge/words.ts";

export const KIND = "gitea";
/** Gitea's default MAX_RESPONSE_ITEMS: a larger limit is cut to it. */
const LIMIT = 50;
const MAX_PAGES = 200;

/** The scopes a 403 names as required, in words. */
export function requiredScopes(body: unknown): string | undefined {
  const message = typeof body === "object" && body !== null
    ? (body as { message?: unknown }).message
    : undefined;
  if (typeof message !== "string") return undefined;
  const m = /required scope\(s\),? required=\[([^\]]*)\]/.exec(message);
  const scopes = m?.[1].split(/[\s,]+/).filter((s) => /^[a-z]+:[a-z]+$/.test(s)) ?? [];
  if (scopes.length === 0) return undefined;
  return `the ${scopes.map((s) => `"${s}"`).join(" and ")} scope${scopes.length > 1 ? "s" : ""}`;
}

export const dialect: ForgeDialect = {
  kind: KIND,
  service: "Gitea",
  authorization: (token) => `token ${token}`,
  describe: (ctx: FailureContext, s: ForgeSettings) =>
    forgeWords(ctx, s, ctx.status === 403 ? requiredScopes(ctx.body) : undefined),
  list: (client, req) =>
    collectNumberedPages(client, { ...req, size: LIMIT, sizeParam: "limit", maxPages: MAX_PAGES }),
  // Gitea creates the repository with the branch flux syncs as its default (CreateRepoOption).
  createFields: (s) => ({ default_branch: s.branch }),
  team(json, client, action) {
    const read = jsonReader(client.ref, action);
    // The team's own permission applies to every repository it has: not compared.
    return { name: read.string(read.object(json, "team"), "name", "team") };
  },
  grantTeam: (s, team) => ({
    method: "PUT",
    path: `/repos/${encodeURIComponent(s.owner)}/${encodeURIComponent(s.repository)}/teams/${
      encodeURIComponent(team)
    }`,
  }),
  // Gitea names no scopes in its answers: a missing one is a 403 that says which.
  tokenProblem: () => undefined,
  needWords: {
    push: `write access to the repository (and the "write:repository" scope)`,
    admin: `admin rights on the repository`,
  },
  permissionWord: (p: Permission) => TEAM_WORDS[p],
};
