/**
 * Who may fetch or push over HTTPS on the Gitea sandbox (routers/web/repo/githttp.go): a token as
 * the password of Basic authentication (or as the user name, services/auth/basic.go), public
 * repositories read by anyone, a push needing write; a token needs the repository scope at the
 * level of the operation. Gitea's answers: 401 with a Basic challenge when credentials are missing
 * or wrong, 404 "Repository not found" for what the user may not see, 403 "User permission denied".
 */
import { gitChallenge, gitRefusal, type GitRoute } from "../forge/git_front.ts";
import type { ForgeStore, RepoRecord } from "../forge/model.ts";
import { accessMode, atLeast } from "./access.ts";
import { requestToken, requiredScopes, scopeRefusal, type TokenRecord } from "./tokens.ts";

export type GitDecision =
  | { allowed: true; repo: RepoRecord }
  | { allowed: false; refusal: Response };

export function gitAccess(
  store: ForgeStore,
  tokens: Map<string, TokenRecord>,
  authorization: string | null,
  route: GitRoute,
): GitDecision {
  const refuse = (refusal: Response): GitDecision => ({ allowed: false, refusal });
  const raw = requestToken(authorization);
  const token = raw === undefined || raw === null ? undefined : tokens.get(raw);
  if (raw !== undefined && !token) {
    return refuse(gitChallenge(".", "invalid username, password or token"));
  }
  const login = token?.user ?? null;
  const repo = store.repo(route.owner, route.name);
  const mode = repo ? accessMode(store, repo, login) : "none";
  if (!repo || mode === "none") {
    return refuse(
      login === null ? gitChallenge(".", "Unauthorized") : gitRefusal(404, "Repository not found"),
    );
  }
  if (route.write && login === null) return refuse(gitChallenge(".", "Unauthorized"));
  const scopes = token
    ? scopeRefusal(token, requiredScopes(route.write ? "POST" : "GET", ["repository"]))
    : undefined;
  if (scopes || (route.write && !atLeast(mode, "write"))) {
    return refuse(gitRefusal(403, "User permission denied"));
  }
  return { allowed: true, repo };
}
