/**
 * Group permissions on a repository, and cheap "may this token administer?" probes.
 * Per the Bitbucket Data Center REST reference (tag "Permission Management"):
 *  GET /rest/api/1.0/projects/{projectKey}/repos/{repositorySlug}/permissions/groups — paged
 *    RestPermittedGroup {group: {name}, permission}; needs REPO_ADMIN; 401 not a repository
 *    administrator; 404 no repository.
 *  PUT …/permissions/groups?permission=REPO_READ|REPO_WRITE|REPO_ADMIN&name=<group> — 204
 *    granted; 400 bad permission; 401 not a repository administrator; 403 would reduce the
 *    caller's own permission; 404 no repository (or, as fluxcd/go-git-providers meets it, no such group).
 *  GET /rest/api/1.0/projects/{projectKey}/permissions/groups — paged; needs PROJECT_ADMIN.
 */
import type { GroupGrant, GroupPermission } from "./types.ts";
import { failureFromResponse, serverErrors, unexpectedShape } from "./errors.ts";
import type { Transport } from "./http.ts";
import { reader } from "./json.ts";
import { collectPages } from "./paging.ts";
import { projectName, repoName, type ResolvedTarget } from "./target.ts";

const GROUP_PERMISSIONS: readonly string[] = ["REPO_READ", "REPO_WRITE", "REPO_ADMIN"];

function repoGroupsPath(t: ResolvedTarget): string {
  return `/rest/api/1.0/projects/${t.projectSegment}/repos/${t.slugSegment}/permissions/groups`;
}

function isGroupPermission(p: string): p is GroupPermission {
  return GROUP_PERMISSIONS.includes(p);
}

export async function listRepoGroupPermissions(
  tr: Transport,
  t: ResolvedTarget,
): Promise<GroupGrant[]> {
  const action = `list group permissions of ${repoName(t)}`;
  const read = reader(t, action);
  const values = await collectPages(tr, t, {
    path: repoGroupsPath(t),
    action,
    subject: `repository ${repoName(t)}`,
  });
  return values.map((v) => {
    const body = read.object(v, "group permission");
    const group = read.object(body.group, "group permission.group");
    const permission = read.string(body, "permission", "group permission");
    if (!isGroupPermission(permission)) {
      throw unexpectedShape(
        t,
        action,
        `group permission "${permission}" is not a repository permission`,
      );
    }
    return { group: read.string(group, "name", "group permission.group"), permission };
  });
}

export async function setRepoGroupPermission(
  tr: Transport,
  t: ResolvedTarget,
  grant: GroupGrant,
): Promise<void> {
  await tr.send({
    method: "PUT",
    path: repoGroupsPath(t),
    query: { permission: grant.permission, name: grant.group },
    action: `grant ${grant.permission} on ${repoName(t)} to group "${grant.group}"`,
    subject: `group "${grant.group}" (or repository ${repoName(t)})`,
  });
}

/** Status of a permission probe: ok, denied (401 AuthorisationException / 403), or absent (404). */
export type ProbeResult = "ok" | "denied" | "absent";

async function probe(
  tr: Transport,
  t: ResolvedTarget,
  path: string,
  action: string,
  subject: string,
): Promise<ProbeResult> {
  const res = await tr.send({
    method: "GET",
    path,
    query: { limit: 1 },
    action,
    subject,
    accept: [401, 403, 404],
  });
  if (res.status === 404) return "absent";
  if (res.status === 403) return "denied";
  if (res.status !== 401) return "ok";
  // 401 is both "not allowed" (AuthorisationException) and "token not accepted" on Bitbucket.
  const notAllowed = serverErrors(res.json).some((e) =>
    (e.exceptionName ?? "").endsWith("AuthorisationException")
  );
  if (notAllowed && tr.user() !== null) return "denied";
  throw failureFromResponse(t, {
    action,
    subject,
    status: 401,
    body: res.json,
    // Without a user behind it, the 401 is a token Bitbucket did not accept.
    headers: new Headers(),
  });
}

/** PROJECT_ADMIN (or more): may create repositories and manage any repository's keys. */
export function probeProjectAdmin(
  tr: Transport,
  t: ResolvedTarget,
  action: string,
): Promise<ProbeResult> {
  return probe(
    tr,
    t,
    `/rest/api/1.0/projects/${t.projectSegment}/permissions/groups`,
    action,
    projectName(t),
  );
}

/** REPO_ADMIN on an existing repository: may manage its access keys and group grants. */
export function probeRepoAdmin(
  tr: Transport,
  t: ResolvedTarget,
  action: string,
): Promise<ProbeResult> {
  return probe(tr, t, repoGroupsPath(t), action, `repository ${repoName(t)}`);
}
