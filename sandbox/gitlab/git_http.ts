/**
 * Git over HTTP(S) on the GitLab sandbox's own origin, as GitLab serves it: http_url_to_repo is
 * <external_url>/<full path>.git, and Workhorse takes /<namespace>/<project>.git/info/refs,
 * git-upload-pack and git-receive-pack on the same host and port as /api/v4. Who may fetch or
 * push is GitLab's rule (git_auth.ts); the request then goes on to the real git http-backend
 * (sandbox/forge/git_front.ts) over the same repositories. Nothing of git is imitated.
 */
import { basicCredentials, gitChallenge, type GitFront, gitRefusal } from "../forge/git_front.ts";
import { pathSegments } from "../forge/http.ts";
import { gitAccess } from "./git_auth.ts";
import { findProjectByPath, fullPathOf, type State } from "./state.ts";

export interface GitLabGitRoute {
  /** The project's full path as asked ("fleet/platform/apps"), without ".git". */
  project: string;
  /** "info/refs", "git-upload-pack" or "git-receive-pack". */
  rest: string;
  /** A push (receive-pack), or its ref advertisement. */
  write: boolean;
}

export interface GitLabGitRecord {
  method: string;
  path: string;
  status: number;
  /** The user name the client gave (never the password), or null. */
  user: string | null;
  write: boolean;
}

const SERVICES = new Set(["info/refs", "git-upload-pack", "git-receive-pack"]);

/** The smart-HTTP request this URL is, if it is one: /<namespace…>/<project>.git/<service>. */
export function gitLabGitRoute(url: URL): GitLabGitRoute | undefined {
  const segs = pathSegments(url.pathname);
  if (!segs || segs[0] === "api") return undefined;
  const at = segs.findIndex((s) => s.endsWith(".git") && s.length > 4);
  if (at < 1) return undefined;
  const rest = segs.slice(at + 1).join("/");
  if (!SERVICES.has(rest)) return undefined;
  const write = rest === "git-receive-pack" ||
    (rest === "info/refs" && url.searchParams.get("service") === "git-receive-pack");
  return { project: [...segs.slice(0, at), segs[at].slice(0, -4)].join("/"), rest, write };
}

/** GitLab's answers to a git client: 401 with a Basic challenge, 403 for a push it may not make. */
export async function serveGit(
  state: State,
  front: GitFront,
  req: Request,
  url: URL,
  route: GitLabGitRoute,
  record: GitLabGitRecord,
): Promise<Response> {
  const creds = basicCredentials(req.headers.get("authorization"));
  record.user = creds?.user ?? null;
  const access = creds
    ? gitAccess(state, creds.user, creds.password, `${route.project}.git`)
    : null;
  if (access === null) {
    return gitChallenge("GitLab", "HTTP Basic: Access denied");
  }
  if (route.write && access !== "write") {
    return gitRefusal(403, "You are not allowed to push code to this project.");
  }
  // The directory on disk has the project's own spelling (paths are case-insensitive here).
  const project = findProjectByPath(state, route.project)!;
  const dir = fullPathOf(project).split("/");
  dir[dir.length - 1] += ".git";
  return await front.forwardTo(req, url, dir, route.rest);
}
