/**
 * Who may fetch or push a project's repository over smart HTTP, as GitLab decides it for git
 * clients (lib/gitlab/auth.rb find_for_git_client):
 * - a personal access token is accepted as the password with any user name ("oauth2", the
 *   owner, …: personal_access_token_check ignores the login); its scopes cap what it may do
 *   (api, write_repository: fetch and push; read_api, read_repository: fetch only) and the
 *   user's role on the project decides the rest (reporter fetches a private project, developer
 *   pushes);
 * - a deploy token only with its own user name (deploy_token_check: login must equal the
 *   token's username), only for its project, fetch only (read_repository).
 * Passed to the git HTTP sandbox as its `authorize` option.
 */
import type { Access } from "../git/http_server.ts";
import { canPushCode, canReadCode } from "./access.ts";
import { findProjectByPath, findToken, type State } from "./state.ts";

const PUSH_SCOPES = new Set(["api", "write_repository"]);
const FETCH_SCOPES = new Set(["api", "read_api", "read_repository", "write_repository"]);

/** `repo` is the repository directory under the git root, "group/sub/project.git". */
export function gitAccess(
  state: State,
  user: string,
  password: string,
  repo: string,
): Access | null {
  if (!repo.endsWith(".git") || password === "") return null;
  const project = findProjectByPath(state, repo.slice(0, -4));
  if (!project) return null;
  const token = findToken(state, password);
  if (token) {
    const scopes = token.scopes as string[];
    if (scopes.some((s) => PUSH_SCOPES.has(s)) && canPushCode(token.user, project)) return "write";
    if (scopes.some((s) => FETCH_SCOPES.has(s)) && canReadCode(token.user, project)) return "read";
    return null;
  }
  const deploy = project.deployTokens.find((t) => t.value === password);
  if (!deploy || deploy.username !== user || deploy.revoked) return null;
  if (deploy.expiresAt !== null && Date.parse(deploy.expiresAt) <= Date.now()) return null;
  return deploy.scopes.includes("read_repository") ? "read" : null;
}
