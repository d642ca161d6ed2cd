/**
 * Projects and repositories: /rest/api/1.0/projects/{projectKey}[/repos[/{repositorySlug}]].
 * Shapes per the Bitbucket Data Center REST reference (OpenAPI "Bitbucket Data Center" 9.x,
 * tags Project/Repository; RestRepository, RestProject).
 */
import type { ProviderRepo } from "./types.ts";
import { unexpectedShape } from "./errors.ts";
import type { Transport } from "./http.ts";
import { type Json, reader } from "./json.ts";
import { projectName, repoName, type ResolvedTarget } from "./target.ts";

export interface BbProject {
  key: string;
  type: string;
}

function projectPath(t: ResolvedTarget): string {
  return `/rest/api/1.0/projects/${t.projectSegment}`;
}

function repoPath(t: ResolvedTarget): string {
  return `${projectPath(t)}/repos/${t.slugSegment}`;
}

/**
 * GET /rest/api/1.0/projects/{projectKey} — "Get project": 200 RestProject {key, id, name,
 * type NORMAL|PERSONAL, public, owner (personal only)}; 401 not permitted to see it; 404 no such
 * project. Any authenticated request also tells the user behind the token (X-AUSERNAME).
 */
export async function getProject(
  tr: Transport,
  t: ResolvedTarget,
  action: string,
): Promise<BbProject> {
  const res = await tr.send({
    method: "GET",
    path: projectPath(t),
    action,
    subject: projectName(t),
  });
  const read = reader(t, action);
  const body = read.object(res.json, "project");
  return {
    key: read.string(body, "key", "project"),
    type: read.optionalString(body, "type") ?? "NORMAL",
  };
}

function toProviderRepo(t: ResolvedTarget, action: string, json: unknown): ProviderRepo {
  const read = reader(t, action);
  const body = read.object(json, "repository");
  const project = read.object(body.project, "repository.project");
  // links.clone is [{href, name: "http" | "ssh"}]; "http" is used for https too.
  const links = read.object(body.links ?? {}, "repository.links");
  const clone = Array.isArray(links.clone) ? links.clone : [];
  const hrefOf = (name: string): string | undefined => {
    for (const link of clone) {
      const l = read.object(link, "clone link");
      if (read.optionalString(l, "name") === name) return read.optionalString(l, "href");
    }
    return undefined;
  };
  const httpCloneUrl = hrefOf("http") ?? hrefOf("https");
  if (httpCloneUrl === undefined) {
    throw unexpectedShape(t, action, "repository has no http clone link");
  }
  const repo: ProviderRepo = {
    project: read.string(project, "key", "repository.project"),
    slug: read.string(body, "slug", "repository"),
    private: !read.boolean(body, "public", false),
    httpCloneUrl,
  };
  const ssh = hrefOf("ssh");
  if (ssh !== undefined) repo.sshCloneUrl = ssh;
  const defaultBranch = read.optionalString(body, "defaultBranch");
  if (defaultBranch !== undefined) repo.defaultBranch = defaultBranch;
  return repo;
}

/**
 * GET /rest/api/1.0/projects/{projectKey}/repos/{repositorySlug} — "Get repository": 200
 * RestRepository; 401 insufficient permissions to see it; 404 "The specified repository does not
 * exist" (also when the project does not). A 404 means "absent" here, not a failure.
 */
export async function getRepo(
  tr: Transport,
  t: ResolvedTarget,
): Promise<ProviderRepo | undefined> {
  const action = `look up repository ${repoName(t)}`;
  const res = await tr.send({
    method: "GET",
    path: repoPath(t),
    action,
    subject: `repository ${repoName(t)}`,
    accept: [404],
  });
  return res.status === 404 ? undefined : toProviderRepo(t, action, res.json);
}

/**
 * POST /rest/api/1.0/projects/{projectKey}/repos — "Create repository": body RestRepository
 * ({name, scmId: "git", public?, forkable?, defaultBranch?}); 201 the new repository; 400
 * validation error; 401 insufficient permissions (needs REPO_CREATE / PROJECT_ADMIN; users are
 * always PROJECT_ADMIN of their personal project "~user"); 409 a repository with the same name
 * exists. The slug is derived from the name, so the name sent is the slug wanted.
 * `public` is sent only when the repository should be public, as flux does.
 */
export async function createRepo(
  tr: Transport,
  t: ResolvedTarget,
  opts: { private: boolean; defaultBranch?: string },
): Promise<ProviderRepo> {
  const action = `create repository ${repoName(t)}`;
  const body: Json = { name: t.slug, scmId: "git" };
  if (!opts.private) body.public = true;
  if (opts.defaultBranch) body.defaultBranch = opts.defaultBranch;
  const res = await tr.send({
    method: "POST",
    path: `${projectPath(t)}/repos`,
    body,
    action,
    subject: `repository ${repoName(t)}`,
  });
  return toProviderRepo(t, action, res.json);
}

/**
 * PUT /rest/api/1.0/projects/{projectKey}/repos/{repositorySlug} — "Update repository": only
 * the fields sent change; needs REPO_ADMIN; 201/200 the updated repository; 404 no such
 * repository. Used for `public` only.
 */
export async function setRepoPublic(
  tr: Transport,
  t: ResolvedTarget,
  isPublic: boolean,
): Promise<void> {
  await tr.send({
    method: "PUT",
    path: repoPath(t),
    body: { public: isPublic },
    action: `make repository ${repoName(t)} ${isPublic ? "public" : "private"}`,
    subject: `repository ${repoName(t)}`,
  });
}
