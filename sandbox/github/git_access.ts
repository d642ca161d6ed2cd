/**
 * Who may fetch or push over HTTPS on the GitHub sandbox (docs "About authentication to GitHub":
 * a personal access token as the password, any user name): public repositories are read by
 * anyone, a push needs the push role; classic tokens need the repo scope for a private
 * repository (public_repo to push to a public one), fine-grained ones the contents permission.
 * GitHub's answers: 401 with a Basic challenge when credentials are missing or wrong, 404
 * "Repository not found." for what the user may not see, 403 "Permission to o/r.git denied to u."
 */
import { gitChallenge, gitRefusal, type GitRoute } from "../forge/git_front.ts";
import type { ForgeStore, RepoRecord } from "../forge/model.ts";
import { atLeast, repoRole } from "./access.ts";
import { gitToken, tokenAllows, type TokenRecord } from "./tokens.ts";

export type GitDecision =
  | { allowed: true; repo: RepoRecord; token: TokenRecord | undefined }
  | { allowed: false; refusal: Response; token: TokenRecord | undefined };

export function gitAccess(
  store: ForgeStore,
  tokens: Map<string, TokenRecord>,
  authorization: string | null,
  route: GitRoute,
): GitDecision {
  const raw = gitToken(authorization);
  const token = raw === undefined ? undefined : tokens.get(raw);
  const refuse = (refusal: Response): GitDecision => ({ allowed: false, refusal, token });
  if (raw !== undefined && !token) {
    return refuse(gitChallenge(
      "GitHub",
      "Invalid username or token. Password authentication is not supported for Git operations.",
    ));
  }
  const login = token?.user ?? null;
  const repo = store.repo(route.owner, route.name);
  const role = repo ? repoRole(repo, login) : undefined;
  if (!repo || role === undefined) {
    return refuse(
      login === null
        ? gitChallenge("GitHub", "Authentication required.")
        : gitRefusal(404, "Repository not found."),
    );
  }
  if (route.write && login === null) {
    return refuse(gitChallenge("GitHub", "Authentication required."));
  }
  const tokenOk = !token || tokenAllows(token, {
    scopes: repo.private ? ["repo"] : route.write ? ["repo", "public_repo"] : undefined,
    permission: ["contents", route.write ? "write" : "read"],
  });
  if (!tokenOk || (route.write && !atLeast(role, "push"))) {
    return refuse(
      gitRefusal(403, `Permission to ${repo.owner.login}/${repo.name}.git denied to ${login}.`),
    );
  }
  return { allowed: true, repo, token };
}
