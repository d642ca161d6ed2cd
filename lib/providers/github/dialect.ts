/**
 * GitHub's REST API (docs.github.com/rest, API version 2022-11-28; operation ids of GitHub's
 * OpenAPI description as in @octokit/openapi-types), the endpoints fluxcd/go-git-providers'
 * github client calls (github/githubclient.go):
 *   GET    /user                                  users/get-authenticated
 *   GET    /orgs/{org}                            orgs/get
 *   GET    /repos/{owner}/{repo}                  repos/get (`permissions` for the caller)
 *   POST   /user/repos                            repos/create-for-authenticated-user
 *   POST   /orgs/{org}/repos                      repos/create-in-org
 *   PATCH  /repos/{owner}/{repo}                  repos/update {private}
 *   GET    /repos/{owner}/{repo}/keys             repos/list-deploy-keys (paged)
 *   POST   /repos/{owner}/{repo}/keys             repos/create-deploy-key {title, key, read_only}
 *   DELETE /repos/{owner}/{repo}/keys/{key_id}    repos/delete-deploy-key
 *   GET    /repos/{owner}/{repo}/teams            repos/list-teams (paged; each team's role)
 *   PUT    /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}
 *                                                 teams/add-or-update-repo-permissions-in-org
 * Where it differs from the other forges: Bearer tokens; Link-header paging with per_page ≤ 100
 * ("Using pagination in the REST API"); teams granted with a role (pull … admin); what a token
 * lacks told by the headers x-oauth-scopes / x-accepted-oauth-scopes (classic tokens, "Scopes for
 * OAuth apps") and x-accepted-github-permissions (fine-grained tokens, changelog 2023-08-10).
 */
import type { Permission } from "../types.ts";
import type { FailureContext } from "../http/errors.ts";
import { jsonReader } from "../http/json.ts";
import { collectLinkPages } from "../http/paging.ts";
import { permissionOf, TEAM_WORDS } from "../forge/settings.ts";
import type { ForgeDialect, ForgeSettings, TokenNeed } from "../forge/types.ts";
import { forgeWords } from "../forge/words.ts";

export const KIND = "github";
const PER_PAGE = 100;
const MAX_PAGES = 100;

/** "administration=write" (sets separated by ";", permissions in a set by ",") in words. */
export function acceptedPermissions(header: string | null): string | undefined {
  if (!header?.trim()) return undefined;
  const first = header.split(";")[0].trim();
  const words = first.split(",").map((p) => p.trim()).filter((p) => p !== "").map((p) => {
    const [name, level] = p.split("=");
    return `"${name}: ${level ?? "read"}"`;
  });
  if (words.length === 0) return undefined;
  return `the ${words.join(" and ")} permission${words.length > 1 ? "s" : ""}`;
}

function scopes(header: string | null): string[] {
  return (header ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/** What the answer says the token lacks: a fine-grained permission or a classic scope. */
function lacking(ctx: FailureContext): string | undefined {
  const permission = acceptedPermissions(ctx.headers.get("x-accepted-github-permissions"));
  if (permission) return permission;
  const accepted = scopes(ctx.headers.get("x-accepted-oauth-scopes"));
  const granted = ctx.headers.get("x-oauth-scopes");
  if (accepted.length === 0 || granted === null) return undefined;
  return `the ${accepted.map((s) => `"${s}"`).join(" or ")} scope (the token has: ${
    scopes(granted).join(", ") || "none"
  })`;
}

/** Scopes that include others (docs "Available scopes"): `repo` covers `public_repo`. */
function tokenProblem(headers: Headers | undefined, need: TokenNeed): string | undefined {
  const header = headers?.get("x-oauth-scopes") ?? null;
  // Only classic tokens carry scopes; fine-grained ones are refused by the call itself.
  if (header === null) return undefined;
  const have = scopes(header);
  if (have.includes("repo")) return undefined;
  if ((need === "push-public" || need === "create-public") && have.includes("public_repo")) {
    return undefined;
  }
  const wanted = need.endsWith("private") ? `"repo"` : `"repo" or "public_repo"`;
  return `it needs the ${wanted} scope (the token has: ${have.join(", ") || "none"})`;
}

export const dialect: ForgeDialect = {
  kind: KIND,
  service: "GitHub",
  authorization: (token) => `Bearer ${token}`,
  headers: { accept: "application/vnd.github+json", "x-github-api-version": "2022-11-28" },
  describe: (ctx, s: ForgeSettings) =>
    forgeWords(ctx, s, ctx.status === 403 ? lacking(ctx) : undefined),
  list: (client, req) =>
    collectLinkPages(client, { ...req, query: { per_page: PER_PAGE }, maxPages: MAX_PAGES }),
  // GitHub's create takes no default branch: the first branch pushed becomes it.
  createFields: () => ({}),
  team(json, client, action) {
    const read = jsonReader(client.ref, action);
    const team = read.object(json, "team");
    return {
      name: read.string(team, "slug", "team"),
      permission: permissionOf(read.optionalString(team, "permission") ?? ""),
    };
  },
  grantTeam: (s, team, permission) => ({
    method: "PUT",
    path: `/orgs/${encodeURIComponent(s.owner)}/teams/${encodeURIComponent(team)}/repos/${
      encodeURIComponent(s.owner)
    }/${encodeURIComponent(s.repository)}`,
    body: { permission: TEAM_WORDS[permission] },
  }),
  tokenProblem: (state, need) => tokenProblem(state.headers(), need),
  needWords: {
    push: `write access to the repository (a fine-grained token: the "contents: write" permission)`,
    admin:
      `admin rights on the repository (a fine-grained token: the "administration: write" permission)`,
  },
  permissionWord: (p: Permission) => TEAM_WORDS[p],
};
